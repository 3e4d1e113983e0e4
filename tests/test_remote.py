"""The ``remote`` reward against a real assay server on loopback: the same judgments as
scoring locally (components and rationales included), typed failures for a reward that
raises, a refused token, an unreachable server and a timeout, batching into requests, and
the trainer adapters (TRL, veRL) working over HTTP unchanged."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pydantic
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from assay.compose.load import load_reward  # noqa: E402
from assay.integrations import trl, verl  # noqa: E402
from assay.rewards.remote import RemoteReward  # noqa: E402
from assay.serve.app import Settings  # noqa: E402
from assay.serve.runner import ServerThread  # noqa: E402
from assay.types import Judgment, Sample  # noqa: E402

FUNCS = Path(__file__).resolve().parent / "serve_rewards.py"
CONFIG = {
    "rewards": {
        "risky": {"type": "function", "path": f"{FUNCS}:risky", "weight": 1.0},
        "fmt": {"type": "regex", "pattern": r"\d+", "mode": "search", "weight": 0.5},
    }
}
SAMPLES = [Sample(prompt="2+2?", response=r, reference="4", id=i) for i, r in enumerate(["4", "5", "raise", "four", "x 4"])]


def test_remote_gives_the_local_judgments():
    local = load_reward(CONFIG).score(SAMPLES)
    with ServerThread(CONFIG) as server:
        remote = RemoteReward(url=server.url, batch_size=2)
        judged = remote.score(SAMPLES)
        assert remote.http.calls == 3  # 5 samples in requests of at most 2
    assert [j.score for j in judged] == [j.score for j in local]
    assert [j.rationale for j in judged] == [j.rationale for j in local]
    assert [j.failure.kind if j.failure else None for j in judged] == [None, None, "internal", None, None]
    assert isinstance(judged[0].details["risky"], Judgment) and judged[0].details["risky"].score == 1.0
    assert judged[2].details["risky"].failure.kind == "internal" and "injected failure" in judged[2].details["risky"].rationale
    assert judged[0].meta["remote"]["url"] == server.url


def test_remote_failures_are_typed_not_scores(monkeypatch):
    with ServerThread(CONFIG, Settings(token="s3cret", timeout=30)) as server:
        monkeypatch.setenv("GOOD_TOKEN", "s3cret")
        monkeypatch.setenv("BAD_TOKEN", "nope")
        assert RemoteReward(url=server.url, token_env="GOOD_TOKEN").score(SAMPLES[:1])[0].score == 1.5
        refused = RemoteReward(url=server.url, token_env="BAD_TOKEN")
        [judgment] = refused.score(SAMPLES[:1])
        assert judgment.score is None and judgment.failure.kind == "backend" and "401" in judgment.rationale
        assert refused.http.calls == 1  # a refused token is not retried
        started = time.monotonic()
        [hung] = RemoteReward(url=server.url, token_env="GOOD_TOKEN", timeout=3).score([Sample(response="hang:10", reference="x")])
        assert hung.score is None and hung.failure.kind == "timeout" and time.monotonic() - started < 8
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    gone = RemoteReward(url=f"http://127.0.0.1:{port}", retries=1)
    [judgment] = gone.score(SAMPLES[:1])
    assert judgment.failure.kind == "backend" and "gave up after 2 attempts" in judgment.rationale
    [unsendable] = RemoteReward(url=f"http://127.0.0.1:{port}").score([Sample(response="4", extra={"blob": object()})])
    assert unsendable.failure.kind == "input"
    with pytest.raises(pydantic.ValidationError, match="http"):
        RemoteReward(url="reward-host:8000")
    with pytest.raises(ValueError, match="MISSING_TOKEN"):
        RemoteReward(url="http://x", token_env="MISSING_TOKEN")


def test_trainer_adapters_over_http(tmp_path):
    with ServerThread(CONFIG) as server:
        config = tmp_path / "remote.yaml"
        config.write_text(json.dumps({"rewards": {"served": {"type": "remote", "url": server.url}}}))
        funcs, weights = trl.reward_funcs(str(config))
        assert [f.__name__ for f in funcs] == ["served"] and weights == [1.0]
        values = funcs[0](prompts=["2+2?", "2+2?", "2+2?"], completions=["4", "5", "raise"], completion_ids=None, solution=["4", "4", "4"])
        assert values[:2] == [pytest.approx(1.5), pytest.approx(0.5)] and values[2] is None
        result = verl.compute_score("gsm8k", "4", "4", extra_info={"question": "2+2?"}, config=str(config))
        assert result["score"] == 1.5 and result["failed"] == 0 and "weighted sum" in result["rationale"]


def test_remote_keeps_groups_whole_and_fails_only_unsendable_samples():
    with ServerThread(CONFIG) as server:
        remote = RemoteReward(url=server.url, batch_size=2)
        grouped = [Sample(response=r, reference="4", group="g") for r in ("4", "5", "4")] + [Sample(response="4", reference="4", extra={"blob": object()})]
        judged = remote.score(grouped)
        assert remote.http.calls == 1  # the group of 3 went as one request; the unsendable sample was not sent
    assert [j.score for j in judged[:3]] == [1.5, 0.5, 1.5]
    assert judged[3].failure.kind == "input" and "JSON" in judged[3].rationale


def test_a_malformed_judgment_from_the_server_fails_its_sample_alone():
    """A server (here a stand-in on loopback) that answers a string score, ``true`` as a score or
    a broken failure: those samples are ``backend`` failures, the good one is kept, nothing raises."""
    import http.server
    import threading

    answer = json.dumps({"judgments": [
        {"score": "0.5", "rationale": "a string score"},
        {"score": True, "rationale": "a boolean score"},
        {"score": None, "rationale": "x", "failure": {"kind": "nonsense", "message": "?"}},
        {"score": 0.75, "rationale": "fine", "details": {"c": {"score": "high", "rationale": "bad component"}}},
        {"score": 1.0, "rationale": "good"},
    ]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        judged = RemoteReward(url=f"http://127.0.0.1:{httpd.server_address[1]}", retries=0).score([Sample(response=str(i)) for i in range(5)])
    finally:
        httpd.shutdown()
    assert [j.failure.kind if j.failure else None for j in judged] == ["backend"] * 4 + [None]
    assert all(j.score is None for j in judged[:4]) and judged[4].score == 1.0
    assert "not a number" in judged[0].rationale and "not a number" in judged[1].rationale


def test_a_nan_or_infinite_remote_score_is_a_backend_failure():
    from assay.rewards.remote import _judgment

    for score in (float("nan"), float("inf")):
        judged = _judgment({"score": score, "rationale": "x"})
        assert judged.score is None and judged.failure.kind == "backend" and "not a score" in judged.rationale
