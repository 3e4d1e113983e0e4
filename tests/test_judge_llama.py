"""Integration: the judges against a real llama.cpp OpenAI-compatible server on loopback,
serving the packaged Gemma-3-270M (started with ``assay llama-server``).

Gemma-3-270M is a tiny base model: it often writes no readable verdict. These tests check
the machinery, not its wisdom: every result is a parsed verdict or a typed failure with the
raw text kept -- never a made-up score -- and usage, latency, logprobs, timeouts and retries
work over the real HTTP path.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assay.backends.base import BackendTimeout
from assay.backends.openai import OpenAIBackend
from assay.reward import run_sync
from assay.rewards.judges.pairwise import PairwiseJudge
from assay.rewards.judges.pointwise import PointwiseJudge
from assay.rewards.judges.rubric import RubricReward
from assay.rewards.judges.wrappers import Swap
from assay.types import Judgment, Pair, Preference, Sample

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
MODEL = "gemma-3-270m"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llama_url(tmp_path_factory):
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        pytest.skip('llama-cpp-python is not installed (pip install "llama-cpp-python[server]"): no local llama.cpp server to test against')
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "assay", "llama-server", "--port", str(port), "--n-ctx", "2048", "--logprobs"],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 300
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"assay llama-server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail(f"assay llama-server did not answer /v1/models within 300 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def settings(url: str, **extra):
    # the server answers one request at a time: no point in queueing several
    return {"base_url": url, "model": MODEL, "max_tokens": 48, "concurrency": 1, "timeout": 120, "retries": 1, **extra}


def check_judgment(judgment: Judgment) -> None:
    if judgment.ok:
        assert 0.0 <= judgment.score <= 1.0
        assert judgment.rationale
    else:
        assert judgment.score is None
        assert judgment.failure.kind == "parse", judgment.failure  # the server answered; only reading can fail
        assert judgment.failure.raw is not None  # the raw text is kept


def test_server_lists_the_model(llama_url) -> None:
    models = httpx.get(f"{llama_url}/models", timeout=5).json()
    assert [m["id"] for m in models["data"]] == [MODEL]


def test_pointwise_end_to_end(llama_url) -> None:
    judge = PointwiseJudge(**settings(llama_url), scale_min=1, scale_max=10)
    samples = [
        Sample(prompt="What is 2 + 2?", response="4", reference="4"),
        Sample(prompt="What is the capital of France?", response="The capital of France is Paris."),
        Sample(prompt="Name a prime number.", response="Nine."),
    ]
    results = judge.score(samples)
    assert len(results) == 3
    for judgment in results:
        check_judgment(judgment)
        assert judgment.meta["usage"]["completion_tokens"] > 0
        assert judgment.meta["usage"]["prompt_tokens"] > 50
        assert judgment.meta["latency_s"] > 0
        assert judgment.meta["attempts"] == 1


def test_pairwise_with_swap_end_to_end(llama_url) -> None:
    swap = Swap(PairwiseJudge(**settings(llama_url)))
    pairs = [Pair("What is 2 + 2?", "4", "5"), Pair("What is the capital of France?", "Lyon", "Paris")]
    for preference in swap.compare(pairs):
        assert isinstance(preference, Preference)
        if preference.ok:
            assert preference.winner in ("a", "b", "tie")
            assert isinstance(preference.meta["agreement"], bool)
        else:
            assert preference.winner is None and preference.failure.kind == "parse"
            assert preference.failure.raw is not None
        assert preference.meta["calls"] == 2


def test_rubric_end_to_end(llama_url) -> None:
    rubric = [
        {"text": "The response states that the capital of France is Paris.", "weight": 2, "kind": "hard_rule"},
        {"text": "The response is a single sentence.", "weight": 1},
    ]
    reward = RubricReward(**settings(llama_url))
    result = reward.score([Sample(prompt="What is the capital of France?", response="Paris is the capital of France.", extra={"rubric": rubric})])[0]
    if result.failure is None:
        assert result.score is None or 0.0 <= result.score <= 1.0  # None: every criterion "cannot assess"
        assert len(result.details) == 2
    else:
        assert result.score is None and result.failure.kind == "parse" and result.failure.raw is not None
    assert result.meta["judge_calls"] == 2


def test_logprobs_from_the_real_server(llama_url) -> None:
    backend = OpenAIBackend(llama_url, model=MODEL, concurrency=1, timeout=120, retries=0)
    completion = run_sync(backend.complete([{"role": "user", "content": "Rate 2+2=4 from 1 to 5. Score:"}], max_tokens=4, logprobs=True, top_logprobs=3))
    assert completion.logprobs, "llama.cpp returned no logprobs"
    assert all(len(t.top) >= 1 and t.logprob <= 0 for t in completion.logprobs)
    assert "".join(t.token for t in completion.logprobs) == completion.text
    judge = PointwiseJudge(**settings(llama_url, max_tokens=8, logprobs=True, top_logprobs=5), scale_min=1, scale_max=5)
    check_judgment(judge.score([Sample(prompt="2+2?", response="4")])[0])


def test_timeout_and_retry_over_the_real_server(llama_url) -> None:
    backend = OpenAIBackend(llama_url, model=MODEL, concurrency=1, timeout=0.05, retries=1, backoff=0.01)
    started = time.perf_counter()
    with pytest.raises(BackendTimeout, match="2 attempts"):
        run_sync(backend.complete([{"role": "user", "content": "Write a long story about a judge."}], max_tokens=4))
    assert time.perf_counter() - started < 5
    assert backend.calls == 2
    judge = PointwiseJudge(**settings(llama_url, timeout=0.05, retries=0))
    failed = judge.score([Sample(prompt="q", response="r")])[0]
    assert failed.failure.kind == "timeout" and failed.score is None


def test_assay_compare_cli(llama_url, tmp_path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "What is 2 + 2?", "response_a": "4", "response_b": "5", "label": "A"},
        {"prompt": "Capital of France?", "response_a": "Lyon", "response_b": "Paris", "label": "B"},
    ]) + "\n")
    config = tmp_path / "judge.yaml"
    config.write_text(
        "rewards:\n  unused: {type: exact_match}\n"
        f"comparator: {{type: pairwise_judge, base_url: '{llama_url}', model: {MODEL}, max_tokens: 48, concurrency: 1, timeout: 120}}\n"
    )
    output = tmp_path / "judged.jsonl"
    done = subprocess.run([sys.executable, "-m", "assay", "compare", str(pairs), "--config", str(config), "--output", str(output), "--swap"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "invalid:" in done.stdout and "accuracy:" in done.stdout
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert row["winner"] in ("A", "B", "tie") or (row["winner"] is None and row["failure"]["kind"] == "parse")
        assert row["rationale"]


def test_logprob_modes_over_the_real_server(llama_url) -> None:
    """score_by / verdict_by logprobs: the prompt ends at the cue, one token is generated, and the
    result is a probability-based score in range -- or a typed failure, never a made-up number."""
    options = settings(llama_url, mode="completions", top_logprobs=20)
    judge = PointwiseJudge(**options, score_by="logprobs", scale_min=1, scale_max=9)
    samples = [Sample(prompt="What is the capital of France?", response="The capital of France is Paris."),
               Sample(prompt="Name a prime number.", response="Nine.")]
    for judgment in judge.score(samples):
        if judgment.ok:
            assert 0.0 <= judgment.score <= 1.0
            assert "token probabilities" in judgment.rationale
            mass = judgment.details["score_token_mass"]
            assert mass and set(mass) <= {str(d) for d in range(1, 10)}
            assert 0.0 < judgment.details["covered_mass"] <= 1.0 + 1e-6
            assert judgment.meta["usage"]["completion_tokens"] == 1
        else:
            assert judgment.score is None and judgment.failure.kind == "parse" and judgment.failure.raw
    comparator = PairwiseJudge(**options, verdict_by="logprobs", allow_tie=False)
    preference = comparator.compare([Pair("What is 2 + 2?", "4", "5")])[0]
    if preference.ok:
        assert preference.winner in ("a", "b") and 0.0 <= preference.probability <= 1.0
        assert set(preference.meta["verdict_distribution"]) == {"A", "B"}
    else:
        assert preference.winner is None and preference.failure.kind == "parse" and preference.failure.raw
