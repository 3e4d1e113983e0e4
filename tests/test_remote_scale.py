"""``remote`` at scale, against real ``assay serve`` processes on loopback: two servers, one
killed mid-run (every sample answered by the survivor, no failure counted as a score); all
servers down (typed ``backend`` failures); a failed server cooling down and probed again;
least-outstanding rotation; request and token rate limits measured against veRL's
token-bucket semantics; and the trainer's step reaching the server's weight schedule through
the TRL and veRL adapters."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from assay.backends.failover import FailoverClient  # noqa: E402
from assay.backends.ratelimit import TokenBucket  # noqa: E402
from assay.integrations import trl, verl  # noqa: E402
from assay.reward import run_sync  # noqa: E402
from assay.rewards.remote import RemoteReward  # noqa: E402
from assay.serve.runner import ServerThread  # noqa: E402
from assay.types import Sample  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FUNCS = Path(__file__).resolve().parent / "serve_rewards.py"
CONFIG = {"rewards": {"risky": {"type": "function", "path": f"{FUNCS}:risky", "weight": 1.0}}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(config_path: Path) -> tuple[subprocess.Popen, str]:
    """``assay serve`` as a user starts it, in its own process (so it can be killed hard)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "serve", "--config", str(config_path), "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


def _wait_healthy(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited while starting"
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not start")


def test_one_of_two_servers_killed_mid_run_the_survivor_answers_every_sample(tmp_path):
    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(CONFIG))
    (a, url_a), (b, url_b) = _serve(path), _serve(path)
    try:
        _wait_healthy(url_a, a)
        _wait_healthy(url_b, b)
        # each sample takes the server 0.15 s to score; 48 requests of one sample, 4 in flight
        samples = [Sample(response="hang:0.15", reference="hang:0.15", id=i) for i in range(48)]
        remote = RemoteReward(url=None, urls=[url_a, url_b], batch_size=1, concurrency=4, cooldown=600, retries=3)
        killed = threading.Event()

        def kill_a_when_it_has_answered() -> None:
            deadline = time.monotonic() + 60
            while remote.http.answered[url_a] < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            a.send_signal(signal.SIGKILL)  # mid-run: requests in flight on A lose their connection
            killed.set()

        killer = threading.Thread(target=kill_a_when_it_has_answered, daemon=True)
        killer.start()
        judged = remote.score(samples)
        killer.join(5)
        assert killed.is_set() and a.wait(10) == -signal.SIGKILL
        failed_before = remote.http.failed[url_a]
        again = remote.score(samples[:4])  # A is dead and cooling down: this batch goes to B alone, A untouched
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
    assert len(judged) == 48
    assert all(j.ok and j.score == 1.0 for j in judged), [j.rationale for j in judged if not j.ok]
    by = [j.meta["remote"]["url"] for j in judged]
    assert 3 <= by.count(url_a) < 48 and by.count(url_b) == 48 - by.count(url_a)
    assert remote.http.answered[url_b] == by.count(url_b) + len(again)
    assert remote.http.failed[url_a] >= 1  # at least one attempt on A failed, and went to B
    assert any(j.meta["remote"]["attempts"] > 1 for j in judged)  # a failed-over request: answered on its second attempt
    assert all(j.ok for j in again) and {j.meta["remote"]["url"] for j in again} == {url_b}
    assert remote.http.failed[url_a] == failed_before


def test_all_servers_down_are_backend_failures_never_scores():
    dead = [f"http://127.0.0.1:{_free_port()}", f"http://127.0.0.1:{_free_port()}"]
    remote = RemoteReward(urls=dead, retries=3, cooldown=60)
    judged = remote.score([Sample(response="4", reference="4"), Sample(response="5", reference="4")])
    assert all(j.score is None and j.failure.kind == "backend" for j in judged)
    assert "gave up after 4 attempts across 2 servers" in judged[0].rationale
    assert remote.http.calls == 4  # one request of two samples, 4 attempts: bounded
    assert set(remote.http.cooling()) == set(dead)


def test_a_failed_server_cools_down_and_is_probed_again():
    dead = f"http://127.0.0.1:{_free_port()}"
    with ServerThread(CONFIG) as server:
        remote = RemoteReward(urls=[dead, server.url], batch_size=1, cooldown=0.6, concurrency=1)
        first = remote.score([Sample(response="4", reference="4")])  # round robin starts at the dead one
        assert first[0].ok and first[0].meta["remote"] == {"url": server.url, "attempts": 2}
        assert remote.http.failed[dead] == 1
        more = remote.score([Sample(response="4", reference="4") for _ in range(6)])
        assert all(j.ok and j.meta["remote"]["url"] == server.url for j in more)
        assert remote.http.failed[dead] == 1  # cooling down: not tried
        time.sleep(0.7)
        probed = remote.score([Sample(response="4", reference="4") for _ in range(2)])
        assert all(j.ok for j in probed) and remote.http.failed[dead] == 2  # probed once, failed, cooling again


def test_least_outstanding_prefers_the_idle_server():
    client = FailoverClient(["http://a", "http://b", "http://c"], rotation="least_outstanding")
    client.outstanding.update({"http://a": 2, "http://b": 0, "http://c": 1})
    assert client.pick(set()) == "http://b"
    assert client.pick({"http://b"}) == "http://c"  # a request that tried b goes elsewhere
    client.cooling_until["http://b"] = time.monotonic() + 60
    assert client.pick(set()) == "http://c"
    rr = FailoverClient(["http://a", "http://b"])
    assert [rr.pick(set()) for _ in range(4)] == ["http://a", "http://b", "http://a", "http://b"]


def test_token_bucket_has_verl_semantics():
    """rpm=120: 2 a second, a burst of 2, so n requests take (n - 2) / 2 s; a request larger
    than the bucket waits for the shortfall and leaves the bucket empty (veRL's AsyncTokenBucket)."""
    bucket = TokenBucket(120)

    async def spend(n: int, units: float = 1.0) -> float:
        started = time.monotonic()
        for _ in range(n):
            await bucket.acquire(units)
        return time.monotonic() - started

    assert run_sync(spend(2)) < 0.1
    assert run_sync(spend(1)) == pytest.approx(0.5, abs=0.15)
    big = TokenBucket(60)  # 1 a second, bucket of 1
    started = time.monotonic()
    run_sync(big.acquire(3))  # full bucket of 1, shortfall 2: 2 s
    assert time.monotonic() - started == pytest.approx(2.0, abs=0.2)
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_rpm_and_tpm_pace_requests_to_a_real_server():
    with ServerThread(CONFIG) as server:
        # rpm=120: 8 requests of one sample: (8 - 2) / 2 = 3 s
        limited = RemoteReward(url=server.url, batch_size=1, concurrency=8, rpm=120)
        started = time.monotonic()
        judged = limited.score([Sample(response="4", reference="4", id=i) for i in range(8)])
        took = time.monotonic() - started
        assert all(j.ok for j in judged) and limited.http.calls == 8
        assert 2.7 <= took <= 4.5, took
        # tpm=12000: 200 tokens a second, a bucket of 200; 5 requests of ceil(396 / 4) = 99 tokens: (495 - 200) / 200 s
        text = "x" * 396
        by_tokens = RemoteReward(url=server.url, batch_size=1, concurrency=5, tpm=12000)
        assert by_tokens.tokens([Sample(response=text)]) == 99
        started = time.monotonic()
        judged = by_tokens.score([Sample(response=text, id=i) for i in range(5)])
        took = time.monotonic() - started
        assert all(j.ok for j in judged)
        assert 1.3 <= took <= 2.6, took


def test_the_trainer_step_reaches_the_servers_schedule(tmp_path):
    scheduled = {"rewards": {"risky": {"type": "function", "path": f"{FUNCS}:risky", "weight": 1.0,
                                       "schedule": {"start": 0.0, "end": 1.0, "steps": 10, "kind": "linear"}}}}
    with ServerThread(scheduled) as server:
        config = tmp_path / "remote.yaml"
        config.write_text(json.dumps({"rewards": {"served": {"type": "remote", "url": server.url}}}))

        class State:
            global_step = 5

        (func,), _ = trl.reward_funcs(str(config))
        assert func(prompts=["2+2?"], completions=["4"], solution=["4"], trainer_state=State()) == [pytest.approx(0.5)]
        assert server.service.reward.step == 5
        State.global_step = 10
        assert func(prompts=["2+2?"], completions=["4"], solution=["4"], trainer_state=State()) == [pytest.approx(1.0)]
        result = verl.compute_score_batch(["gsm8k"], ["4"], ["4"], [{"question": "2+2?"}], config=str(config), step=2)
        assert result[0]["score"] == pytest.approx(0.2) and "at step 2" in result[0]["rationale"] or server.service.reward.step == 2
        assert server.service.reward.step == 2
        # veRL's batch manager subclass (assay_steps) passes meta_info["global_steps"]
        if _verl_importable():
            from test_integrations import _verl_batch, _verl_loaded
            from transformers import AutoTokenizer

            import assay.integrations.verl_steps as verl_steps
            from assay.backends.local_models import default_encoder_path

            tokenizer = AutoTokenizer.from_pretrained(str(default_encoder_path()))
            manager = verl_steps.AssayStepRewardManager(tokenizer, 0, _verl_loaded(tmp_path, "compute_score_batch", config=str(config)), token_rewards="outcome")
            data = _verl_batch(tokenizer, ["2+2?"], ["4"], ["4"])
            data.meta_info["global_steps"] = 7
            out = manager(data, return_dict=True)
            assert out["reward_extra_info"]["score"][0] == pytest.approx(0.7) and server.service.reward.step == 7
        # a request with a bad step is refused, naming the field
        r = httpx.post(server.url + "/v1/score", json={"samples": [{"response": "4"}], "step": "ten"})
        assert r.status_code == 422 and "'step'" in r.json()["error"]["message"]


def _verl_importable() -> bool:
    try:
        import verl.workers.reward_manager.batch  # noqa: F401
    except Exception:  # noqa: BLE001
        return False
    return True


def test_a_5xx_or_a_timeout_fails_over_and_a_4xx_does_not():
    """Stand-ins on loopback: one answers 503, one never answers in time, one answers 422; the
    first two fail over to the real server, the 422 (a malformed request) fails at once."""
    import http.server

    def stand_in(status: int | None):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["content-length"]))
                if status is None:
                    time.sleep(3)  # past the client's timeout
                    return
                body = b'{"error": {"status": %d, "message": "stand-in"}}' % status
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"

    (broken, url_503), (slow, url_slow), (picky, url_422) = stand_in(503), stand_in(None), stand_in(422)
    try:
        with ServerThread(CONFIG) as server:
            for bad in (url_503, url_slow):
                remote = RemoteReward(urls=[bad, server.url], timeout=1.5, retries=2)
                [judged] = remote.score([Sample(response="4", reference="4")])
                assert judged.ok and judged.meta["remote"] == {"url": server.url, "attempts": 2}, judged.rationale
                assert bad in remote.http.cooling()
            remote = RemoteReward(urls=[url_422, server.url], retries=2)
            [refused] = remote.score([Sample(response="4", reference="4")])
            assert refused.failure.kind == "input" and "422" in refused.rationale and remote.http.calls == 1
    finally:
        for httpd in (broken, slow, picky):
            httpd.shutdown()
