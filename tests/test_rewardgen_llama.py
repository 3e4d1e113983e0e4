"""Integration: ``assay reward-gen`` end to end against a real llama.cpp server on loopback
serving the packaged Gemma-3-270M (the fixture of tests/test_judge_llama.py), the code run in
the real sandbox.

The tiny model writes poor code (or none). The test checks the machinery, not its wisdom:
every round the model wrote is refused with a reason, or run in the sandbox with one score or
typed failure per example, and reported; a hostile function (an infinite loop that passes
the static checks) and a forbidden one (``import os``) passed in with ``--start`` are
contained, scored and reported the same way; a nearly correct function passed in is kept
unless the model's code beat it; and the kept file loads as a sandboxed ``function`` reward
that scores the examples as the round did.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_judge_llama import MODEL, llama_url  # noqa: F401  (the session fixture: one server)
from test_rewardgen import ISOLATED, POOR, ROWS, TASK

from assay.rewardgen.provenance import read_provenance
from assay.rewards.function import ImportedFunction, SandboxedFunctionReward
from assay.types import Sample

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not ISOLATED, reason="no isolating sandbox backend here (install bubblewrap)")]
REPO = Path(__file__).resolve().parents[1]
HOSTILE = "def reward(response, **fields):\n    while True:\n        pass\n"
FORBIDDEN = "import os\ndef reward(response, **fields):\n    return float(os.path.exists('/etc/passwd'))\n"


def test_reward_gen_against_the_real_server(llama_url, tmp_path):  # noqa: F811
    examples = tmp_path / "labelled.jsonl"
    examples.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    config = tmp_path / "judge.yaml"
    config.write_text(f"rewards:\n  judge: {{type: judge, base_url: '{llama_url}', model: {MODEL}, max_tokens: 256, timeout: 120, retries: 1}}\n")
    starts = {"almost.py": POOR, "hostile.py": HOSTILE, "forbidden.py": FORBIDDEN}
    for name, code in starts.items():
        (tmp_path / name).write_text(code)
    out, report = tmp_path / "reward.py", tmp_path / "report.json"
    argv = [sys.executable, "-m", "assay", "reward-gen", "--task", TASK, "--examples", str(examples), "--config", str(config),
            "--rounds", "2", "--timeout-seconds", "1", "--output", str(out), "--report", str(report)]
    for name in starts:
        argv += ["--start", str(tmp_path / name)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    candidates = json.loads(report.read_text())["candidates"]
    by_origin = {c["origin"]: c for c in candidates}

    almost, hostile, forbidden = (by_origin[f"start: {tmp_path / name}"] for name in starts)
    assert almost["status"] == "ran" and almost["agreement"]["value"] == pytest.approx(7 / 8)
    assert hostile["status"] == "ran" and hostile["failures"] == {"timeout": 8} and hostile["agreement"]["value"] == 0.0
    assert forbidden["status"] == "refused" and "import of 'os'" in forbidden["problems"][0] and forbidden["judgments"] == []

    model_rounds = [c for c in candidates if c["origin"] == "model"]
    assert [c["round"] for c in model_rounds] == [1, 2]
    for c in model_rounds:  # whatever the tiny model wrote: refused with a reason, or run with a verdict per example
        assert c["reply"] is not None and c["model"]
        if c["status"] == "refused":
            assert c["problems"] and c["judgments"] == [] and c["agreement"] is None
        else:
            assert c["status"] == "ran" and len(c["judgments"]) == len(ROWS)
            for j in c["judgments"]:
                assert (j["score"] is None) == (j["failure"] is not None)
                if j["failure"]:
                    assert j["failure"]["kind"] in ("internal", "timeout", "parse")
        assert f"round {c['round']} (model)" in done.stderr  # reported as it happened
    assert "refused" in done.stdout or "accuracy" in done.stdout

    best_value = max(c["agreement"]["value"] for c in candidates if c["agreement"])
    provenance = read_provenance(out)
    assert provenance["agreement"] == best_value and provenance["model"] and provenance["task"] == TASK
    if best_value == pytest.approx(7 / 8) and all((c["agreement"] or {}).get("value", 0) <= 7 / 8 for c in model_rounds):
        assert provenance["origin"] == f"start: {tmp_path / 'almost.py'}"  # the function passed in, kept

    reward = ImportedFunction(name="generated", path=f"{out}:reward", sandbox=True)
    assert isinstance(reward, SandboxedFunctionReward)
    kept = next(c for c in candidates if c["origin"] == provenance["origin"] and c["round"] == provenance["best_round"])
    again = reward.score([Sample.from_dict({k: v for k, v in r.items() if k != "label"}) for r in ROWS])
    assert [j.score for j in again] == [j["score"] for j in kept["judgments"]]
