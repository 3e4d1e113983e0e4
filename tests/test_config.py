"""Configs into reward graphs: validation errors that name the place, and the composed total."""

import json
import textwrap

import pytest

from assay import ConfigError, Sample, load_reward

FUNCTIONS = '''
def length(response, reference=None):
    return float(len(response)), f"{len(response)} characters"

def correct(response, reference):
    return (1.0 if response.strip() == str(reference) else 0.0), "compared"

def judge_like(response):
    return 0.8, "pretend model score"

def flaky(response):
    if "boom" in response:
        raise RuntimeError("flaky reward exploded")
    return 1.0
'''


@pytest.fixture
def fn_dir(tmp_path):
    (tmp_path / "funcs.py").write_text(FUNCTIONS)
    return tmp_path


def write(tmp_path, text, name="rewards.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_function_reward_path_is_relative_to_the_config(fn_dir):
    path = write(fn_dir, """
        rewards:
          n: {type: function, path: funcs.py:length, weight: 0.5}
    """)
    j = load_reward(path).score([Sample(response="abcd")])[0]
    assert j.score == 2.0
    assert j.details["n"].rationale == "4 characters"


def test_module_path_function():
    r = load_reward({"rewards": {"t": {"type": "function", "path": "assay.types:text_of"}}})
    assert r.components["t"].fn.__name__ == "text_of"


def test_unknown_type_names_the_entry():
    with pytest.raises(ConfigError, match=r"rewards.x.type: .*unknown reward type 'nope'"):
        load_reward({"rewards": {"x": {"type": "nope"}}})


def test_unknown_option_names_entry_and_key(fn_dir):
    path = write(fn_dir, """
        rewards:
          n: {type: function, path: funcs.py:length, colour: red}
    """)
    with pytest.raises(ConfigError, match=r"rewards\.n\.colour: Extra inputs are not permitted") as error:
        load_reward(path)
    assert "rewards.n.colour" in str(error.value) and str(path) in str(error.value)


def test_reference_to_missing_reward_is_an_error(fn_dir):
    with pytest.raises(ConfigError, match="combine.gates.0.reward|gates\\[0\\].reward names 'fmt'"):
        load_reward({"rewards": {"n": {"type": "function", "path": str(fn_dir / "funcs.py") + ":length"}}, "combine": {"gates": [{"reward": "fmt"}]}})


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_reward(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_reward(write(tmp_path, "rewards: [unclosed"))
    with pytest.raises(ConfigError, match="rewards"):
        load_reward(write(tmp_path, "- a list"))


def test_toml_config(fn_dir):
    path = write(fn_dir, """
        [rewards.n]
        type = "function"
        path = "funcs.py:length"
    """, name="rewards.toml")
    assert load_reward(path).score([Sample(response="abc")])[0].score == 3.0


def test_gate_positive_only_and_failure_policy(fn_dir):
    f = str(fn_dir / "funcs.py")
    config = {
        "rewards": {
            "correct": {"type": "function", "path": f + ":correct", "weight": 1.0},
            "quality": {"type": "function", "path": f + ":judge_like", "weight": 0.5, "only_if": "correct"},
            "safe": {"type": "function", "path": f + ":flaky", "weight": 0.0},
        },
        "combine": {"gates": [{"reward": "safe", "below": 1.0, "cap": -1.0}]},
    }
    reward = load_reward(config)
    right, wrong, exploded = reward.score([
        Sample(response="4", reference="4"),
        Sample(response="5", reference="4"),
        Sample(response="4 boom", reference="4"),
    ])
    assert right.score == pytest.approx(1.4)
    assert wrong.score == 0.0 and "quality off" in wrong.rationale
    assert exploded.score is None and exploded.failure.kind == "internal"
    assert "safe" in exploded.rationale and exploded.details["safe"].failure is not None


def test_group_normalisation_and_schedule(fn_dir):
    f = str(fn_dir / "funcs.py")
    reward = load_reward({
        "rewards": {"n": {"type": "function", "path": f + ":length", "schedule": {"start": 1.0, "end": 0.0, "steps": 10}}},
        "combine": {"normalize": "group_zscore"},
    })
    reward.step = 5
    out = reward.score([Sample(response="a", group=1), Sample(response="abc", group=1)])
    assert out[0].score == pytest.approx(-1.0, abs=1e-4) and out[1].score == pytest.approx(1.0, abs=1e-4)
    assert out[0].meta["raw_total"] == pytest.approx(0.5)
    assert "weight 0.5 at step 5" in out[0].rationale


def test_trust_weight_and_outcome_process(fn_dir):
    f = str(fn_dir / "funcs.py")
    reward = load_reward({
        "rewards": {
            "correct": {"type": "function", "path": f + ":correct"},
            "model": {"type": "function", "path": f + ":length", "trust_against": "correct"},
        },
    })
    out = reward.score([Sample(response="4", reference="4", group=1), Sample(response="45", reference="4", group=1)])
    assert "trust 0" in out[0].rationale  # the longer (wrong) answer scores higher: no trust
    assert out[0].score == 1.0 and out[1].score == 0.0
    reward = load_reward({
        "rewards": {"o": {"type": "function", "path": f + ":correct"}, "p": {"type": "function", "path": f + ":length"}},
        "combine": {"method": "outcome_process", "outcome": "o", "process": "p"},
    })
    out = reward.score([Sample(response="4", reference="4", group=1), Sample(response="45", reference="4", group=1)])
    assert out[0].score > out[1].score


def test_log_sigmoid_sum_method(fn_dir):
    f = str(fn_dir / "funcs.py")
    reward = load_reward({"rewards": {"c": {"type": "function", "path": f + ":correct", "center": 0.5}}, "combine": {"method": "log_sigmoid_sum"}})
    assert reward.score([Sample(response="4", reference="4")])[0].score == pytest.approx(-0.474077, abs=1e-5)


def test_output_is_json_serialisable(fn_dir):
    reward = load_reward({"rewards": {"n": {"type": "function", "path": str(fn_dir / "funcs.py") + ":length"}}})
    row = reward.score([Sample(response="x")])[0].to_dict()
    assert json.loads(json.dumps(row)) == row


def test_group_judging_rewards_make_the_whole_config_need_whole_groups():
    from assay.compose.load import load_reward

    assert not load_reward({"rewards": {"em": {"type": "exact_match"}}}).needs_whole_groups
    assert load_reward({"rewards": {"em": {"type": "exact_match"}}, "combine": {"normalize": "group_rank"}}).needs_whole_groups
    assert load_reward({"rewards": {"div": {"type": "diversity"}}}).needs_whole_groups


def test_combine_settings_that_would_be_ignored_are_refused():
    from assay.compose.load import ConfigError, load_reward

    base = {"rewards": {"o": {"type": "exact_match"}, "p": {"type": "exact_match"}}}
    with pytest.raises(ConfigError, match="gates and normalize do not apply"):
        load_reward({**base, "combine": {"method": "outcome_process", "outcome": "o", "process": "p", "gates": [{"reward": "o"}]}})
    with pytest.raises(ConfigError, match="on_failure must be 'fail'"):
        load_reward({**base, "combine": {"method": "log_sigmoid_sum", "on_failure": "skip"}})


# --- read once: the schema (assay.spec) and the builder (assay.compose.load) ----------------------


@pytest.fixture
def reads(monkeypatch):
    """Counts ``read_config`` calls, wherever a module bound the name, and records their sources."""
    import sys

    import assay.bench.runner  # noqa: F401 - bind read_config where it is imported at module level
    import assay.compose.load  # noqa: F401
    import assay.integrations.common  # noqa: F401
    import assay.spec

    real = assay.spec.read_config
    calls: list[object] = []

    def counting(source):
        calls.append(source)
        return real(source)

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("assay") and getattr(module, "read_config", None) is real:
            monkeypatch.setattr(module, "read_config", counting)
    return calls


def test_assay_score_reads_its_config_once(fn_dir, reads):
    from assay.cli import main

    config = write(fn_dir, 'rewards:\n  n: {type: function, path: "funcs.py:length"}\n')
    rows = fn_dir / "rows.jsonl"
    rows.write_text('{"response": "abc"}\n')
    assert main(["score", str(rows), "--config", str(config), "--output", str(fn_dir / "out.jsonl"), "-q"]) == 0
    assert reads == [str(config)]


def test_assay_compare_reads_its_config_once(fn_dir, reads):
    from assay.cli import main

    config = write(fn_dir, 'rewards:\n  n: {type: function, path: "funcs.py:length"}\n')  # no comparator: the scores decide
    pairs = fn_dir / "pairs.jsonl"
    pairs.write_text('{"prompt": "q", "response_a": "abc", "response_b": "a", "label": "A"}\n')
    assert main(["compare", str(pairs), "--config", str(config), "--output", str(fn_dir / "out.jsonl")]) == 0
    assert reads == [str(config)]


def test_assay_bench_reads_its_config_once_and_hashes_the_text_it_built(fn_dir, reads):
    from assay.bench.worklog import config_hash
    from assay.cli import main
    from assay.spec import read_config

    (fn_dir / "llmbar").mkdir()
    (fn_dir / "llmbar" / "natural.json").write_text(json.dumps([{"input": "q", "output_1": "long answer", "output_2": "short", "label": 1}]))
    config = write(fn_dir, 'rewards:\n  n: {type: function, path: "funcs.py:length"}\n')
    output = fn_dir / "run"
    assert main(["bench", "llmbar", "--config", str(config), "--data-dir", str(fn_dir), "--output", str(output), "-q", "--no-html", "--bootstrap", "0"]) == 0
    assert reads == [str(config)]
    recorded = json.loads((output / "run.json").read_text())["config_hash"]
    assert recorded == config_hash(read_config(config), "llmbar", {"seed": 0, "mode": "pointwise"})
    (fn_dir / "funcs.py").write_text(FUNCTIONS + "\n# edited\n")  # the function file is part of the hash
    assert recorded != config_hash(read_config(config), "llmbar", {"seed": 0, "mode": "pointwise"})


def test_the_server_reads_its_config_once(fn_dir, reads):
    pytest.importorskip("fastapi")
    from assay.serve.app import build_app

    config = write(fn_dir, 'rewards:\n  n: {type: function, path: "funcs.py:length"}\n')
    build_app(config)
    assert reads == [config]


def test_the_bench_hash_is_unchanged_for_a_file_and_a_dict(fn_dir):
    """The resume hash is the same bytes as before the split: the file's text (a dict's
    canonical JSON), then the function files, so existing run folders still resume."""
    import hashlib

    from assay.bench.worklog import config_hash
    from assay.spec import read_config

    config = write(fn_dir, 'rewards:\n  n: {type: function, path: "funcs.py:length"}\n')
    digest = hashlib.sha256(json.dumps({"benchmark": "llmbar", "seed": 0}, sort_keys=True).encode())
    digest.update(config.read_bytes())
    digest.update((fn_dir / "funcs.py").read_bytes())
    assert config_hash(read_config(config), "llmbar", {"seed": 0}) == digest.hexdigest()[:16]
    data = {"rewards": {"em": {"type": "exact_match"}}}
    digest = hashlib.sha256(json.dumps({"benchmark": "llmbar"}, sort_keys=True).encode())
    digest.update(json.dumps(data, sort_keys=True, default=str).encode())
    assert config_hash(read_config(data), "llmbar") == digest.hexdigest()[:16]


def test_loaded_config_keeps_what_was_parsed(fn_dir):
    from assay.spec import LoadedConfig, read_config

    config = write(fn_dir, "rewards:\n  em: {type: exact_match, weight: 2}\n")
    loaded = read_config(config)
    assert isinstance(loaded, LoadedConfig) and loaded.path == config and loaded.text == config.read_text()
    assert loaded.spec.rewards["em"].weight == 2 and loaded.spec.rewards["em"].options == {}
    assert len(loaded.hash) == 16 and loaded.base_dir == fn_dir
    assert load_reward(loaded).score([Sample(response="x", reference="x")])[0].score == 2.0  # built from it, not re-read


def test_a_comparator_only_config_is_accepted_and_modelled(tmp_path):
    from assay import load_comparator
    from assay.spec import read_config

    config = write(tmp_path, 'comparator: {type: pairwise_judge, model: m, swap: judgebench, vote: {k: 3}}\n')
    spec = read_config(config).spec
    assert spec.rewards == {} and spec.comparator.type == "pairwise_judge" and spec.comparator.swap_rule == "judgebench"
    assert spec.comparator.vote.k == 3 and spec.comparator.options == {"model": "m"}
    comparator = load_comparator(config)
    assert comparator.pairwise and comparator.options.rule == "judgebench" and comparator.comparator.options.k == 3
    with pytest.raises(ConfigError, match="no 'rewards'"):
        load_reward(config)
    with pytest.raises(ConfigError, match=r"comparator.swap: .*expected true, 'tie' or 'judgebench'"):
        read_config({"comparator": {"type": "pairwise_judge", "swap": "sometimes"}})
    with pytest.raises(ConfigError, match="comparator.type"):
        read_config({"comparator": {"model": "m"}})
    with pytest.raises(ConfigError, match="at least one reward"):
        read_config({"combine": {"method": "weighted_sum"}})
    with pytest.raises(ConfigError, match="at least one reward"):
        read_config({"rewards": {}, "comparator": {"type": "pairwise_judge"}})
