"""The reward server under hostile requests and hostile clients, on real uvicorn servers on
loopback: a reward that spins or blocks does not freeze /health or other requests, abandoned
calls do not use up the threads, a wedged server says so, client input that used to be a 500
is a 400 naming the field, internal tracebacks stay in the server log, and slow or numerous
connections are cut off within stated bounds."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from assay.serve.app import Settings  # noqa: E402
from assay.serve.pool import RewardPool  # noqa: E402
from assay.serve.runner import ServerThread  # noqa: E402

FUNCS = Path(__file__).resolve().parent / "serve_rewards.py"


def config() -> dict:
    return {"rewards": {"risky": {"type": "function", "path": f"{FUNCS}:risky"}}}


def score(client: httpx.Client, response: str, **body) -> dict:
    r = client.post("/v1/score", json={"samples": [{"response": response, "reference": "4"}], **body})
    assert r.status_code == 200, r.text
    return r.json()["judgments"][0]


def test_health_and_a_trivial_request_answer_while_a_hostile_request_spins():
    with ServerThread(config(), Settings(timeout=10.0)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        async def hostile() -> httpx.Response:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
                return await c.post("/v1/score", json={"samples": [{"response": "spin:4"}]})

        import threading

        result: dict = {}
        caller = threading.Thread(target=lambda: result.setdefault("r", asyncio.run(hostile())))
        caller.start()
        time.sleep(0.5)  # the spinning call is running
        assert server.service.pool.stats()["busy"] == 1
        for _ in range(3):
            started = time.monotonic()
            assert client.get("/health").status_code == 200
            assert score(client, "4")["score"] == 1.0
            assert time.monotonic() - started < 1.0
        caller.join(30)
        assert result["r"].status_code == 200


def test_ten_abandoned_calls_leave_the_server_scoring_and_visible(tmp_path):
    release = tmp_path / "release"
    settings = Settings(timeout=0.5, reward_threads=4, max_abandoned=16, concurrency=2)
    with ServerThread(config(), settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        try:
            for _ in range(10):  # each call blocks past the server's timeout: abandoned, its thread kept
                assert score(client, f"block:{release}")["failure"]["kind"] == "timeout"
            deadline = time.monotonic() + 3  # the last batch call gives up just after its request did
            while server.service.pool.stats()["abandoned_total"] < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
            stats = server.service.pool.stats()
            assert stats["abandoned_running"] == 10 and stats["abandoned_total"] == 10 and not stats["wedged"]
            started = time.monotonic()
            assert score(client, "4")["score"] == 1.0  # a fresh thread took over
            assert time.monotonic() - started < 1.0
            health = client.get("/health")
            assert health.status_code == 200 and health.json()["reward_pool"]["abandoned_running"] == 10
            metrics = client.get("/metrics").text
            assert 'assay_reward_threads{state="abandoned"} 10' in metrics
            assert "assay_reward_calls_abandoned_total 10" in metrics and "assay_wedged 0" in metrics
        finally:
            release.write_text("")
        deadline = time.monotonic() + 5
        while server.service.pool.stats()["abandoned_running"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.service.pool.stats()["abandoned_running"] == 0  # the stuck calls returned their threads


def test_a_wedged_reward_makes_health_fail_and_it_recovers(tmp_path):
    release = tmp_path / "release"
    settings = Settings(timeout=0.4, reward_threads=1, max_abandoned=1, concurrency=1, max_batch=1)
    with ServerThread(config(), settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        try:
            for _ in range(2):
                assert score(client, f"block:{release}")["failure"]["kind"] == "timeout"
            deadline = time.monotonic() + 3
            while not server.service.pool.wedged and time.monotonic() < deadline:
                time.sleep(0.05)
            health = client.get("/health")
            assert health.status_code == 503
            assert health.json()["status"] == "wedged" and "cannot score" in health.json()["reason"]
            refused = client.post("/v1/score", json={"samples": [{"response": "4"}]})
            assert refused.status_code == 503 and "wedged" in refused.json()["error"]["message"]
            assert "assay_wedged 1" in client.get("/metrics").text
        finally:
            release.write_text("")
        deadline = time.monotonic() + 5
        while client.get("/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/health").json()["status"] == "ok"
        assert score(client, "4")["score"] == 1.0


def test_pool_drops_a_call_cancelled_before_it_started():
    pool = RewardPool(workers=1, max_abandoned=0)
    try:
        gate = pool.submit(time.sleep, 0.3)
        queued = pool.submit(lambda: pytest.fail("a cancelled call must not run"))
        assert queued.cancel() and gate.result(5) is None
    finally:
        pool.shutdown()


def test_client_input_that_was_a_500_is_a_400_naming_the_field_and_keeps_the_connection():
    with ServerThread(config()) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        deep = b'{"samples": [{"response": "x", "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}]}"
        cases = [
            (deep, "nested"),
            (b'{"samples": [{"response": "a' + b"[" * 10 + b'", "x": ' + b"[" * 200 + b"]" * 200 + b"}]}", "samples[0].x"),
            (b'{"samples": [{"response": "ok \\ud800"}]}', "samples[0].response"),
            (b'{"samples": [{"response": "ok", "reference": ["\\udfff"]}]}', "samples[0].reference[0]"),
        ]
        for body, expected in cases:
            r = client.post("/v1/score", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400, (body[:60], r.text)
            assert expected in r.json()["error"]["message"]
            assert r.headers.get("connection") != "close"
        # a valid surrogate pair is fine text
        assert score(client, "\U0001F600")["failure"] is None
        assert client.post("/v1/compare", content=b'{"pairs": [{"response_a": "\\ud800", "response_b": "b"}]}').status_code == 400
        metrics = client.get("/metrics").text
        assert 'status="500"' not in metrics


def test_internal_failures_send_a_reference_not_a_traceback(caplog):
    with ServerThread(config()) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        with caplog.at_level("ERROR", logger="assay.serve"):
            judgment = score(client, "raise")
        failure = judgment["failure"]
        assert failure["kind"] == "internal" and "raw" not in failure
        assert "injected failure" in failure["message"]
        inner = judgment["details"]["risky"]["failure"]
        assert "injected failure" in inner["message"] and "[reference " in inner["message"]
        assert "raw" not in inner and "Traceback" not in json.dumps(judgment) and str(FUNCS.parent) not in json.dumps(judgment)
        ref = inner["message"].split("[reference ")[1].rstrip("]")
        assert any(ref in record.getMessage() and "Traceback" in record.getMessage() for record in caplog.records)
        body = client.post("/get_reward", json={"query": ["Q raise"], "prompts": ["Q "]}).json()
        assert "raw" not in body["failures"][0]


# --- slow and numerous clients ---------------------------------------------------------------
def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def _read_all(s: socket.socket, limit: float = 10.0) -> bytes:
    s.settimeout(limit)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def test_slow_headers_and_bodies_are_cut_off_and_connections_are_capped():
    settings = Settings(header_timeout=1.0, body_timeout=1.0, max_connections=20, keep_alive=1.0)
    with ServerThread(config(), settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        # 30 slowloris connections: a partial request head and nothing more
        slow = [_connect(server.port) for _ in range(30)]
        started = time.monotonic()
        for s in slow:
            try:
                s.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\n")
            except OSError:
                pass  # already closed by the cap
        answers = [_read_all(s, limit=5.0) for s in slow]
        elapsed = time.monotonic() - started
        full = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        timed_out = [a for a in answers if a.startswith(b"HTTP/1.1 408")]
        assert len(full) >= 10 and len(full) + len(timed_out) == 30, [a[:20] for a in answers]
        assert elapsed < 4.0  # every slow connection closed within the header timeout (+ slack)
        for s in slow:
            s.close()
        # a body that never finishes: 408 after the body timeout, the connection closed
        s = _connect(server.port)
        s.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"samples\"")
        started = time.monotonic()
        answer = _read_all(s, limit=5.0)
        assert answer.startswith(b"HTTP/1.1 408") and b"not received within 1 s" in answer
        assert time.monotonic() - started < 3.0
        s.close()
        # the server is unharmed
        assert client.get("/health").status_code == 200
        assert score(client, "4")["score"] == 1.0


def test_rewards_are_warmed_up_at_start_so_a_first_short_request_is_scored():
    pytest.importorskip("math_verify")
    with ServerThread({"rewards": {"m": {"type": "math"}}}, Settings(timeout=30)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        math_reward = server.service.reward.components["m"]
        assert math_reward.worker_pids()  # started with the server, not by the first request
        started = time.monotonic()
        r = client.post("/v1/score", json={"samples": [{"response": "so \\boxed{4}", "reference": "4"}], "timeout": 3})
        assert r.json()["judgments"][0]["score"] == 1.0 and time.monotonic() - started < 3


def test_chat_responses_need_string_content_and_an_assistant_turn():
    with ServerThread(config()) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        cases = [
            ([{"role": "user", "content": "2+2?"}], "without an assistant turn"),
            ([{"role": "assistant", "content": 4}], "'content' must be a string"),
            ([{"role": "assistant", "content": {"text": "4"}}], "'content' must be a string"),
            ([], "empty list"),
        ]
        for response, expected in cases:
            r = client.post("/v1/score", json={"samples": [{"response": response}]})
            assert r.status_code == 422 and "samples[0].response" in r.json()["error"]["message"] and expected in r.json()["error"]["message"], r.text
        # a user prompt as chat is fine; content parts are fine
        parts = [{"role": "assistant", "content": [{"type": "text", "text": "4"}]}]
        ok = client.post("/v1/score", json={"samples": [{"prompt": [{"role": "user", "content": "2+2?"}], "response": parts, "reference": "4"}]})
        assert ok.json()["judgments"][0]["score"] == 1.0


def test_serving_on_all_interfaces_without_a_token_warns(tmp_path):
    import subprocess
    import sys

    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(config()))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "assay", "serve", "-c", str(cfg), "--host", "0.0.0.0", "--port", str(port), "--log-level", "warning"],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "without a token" in out, out
