"""The reward server against real uvicorn servers on loopback: scoring, micro-batching,
auth, limits, malformed requests, a reward that raises, one that hangs, a full queue,
graceful shutdown, metrics, and the ``assay serve`` command."""

from __future__ import annotations

import asyncio
import json
import math
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

from assay.serve.app import Settings  # noqa: E402
from assay.serve.runner import ServerThread  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FUNCS = Path(__file__).resolve().parent / "serve_rewards.py"


def config(extra: dict | None = None) -> dict:
    cfg = {
        "rewards": {
            "risky": {"type": "function", "path": f"{FUNCS}:risky", "weight": 1.0},
            "size": {"type": "function", "path": f"{FUNCS}:length", "weight": 0.0},
        }
    }
    cfg.update(extra or {})
    return cfg


def test_score_compare_and_openrlhf_endpoints():
    with ServerThread(config()) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/v1/score", json={"samples": [{"prompt": "2+2?", "response": "4", "reference": "4"}, {"response": "5", "reference": "4"}]})
        assert r.status_code == 200
        judgments = r.json()["judgments"]
        assert [j["score"] for j in judgments] == [1.0, 0.0]
        assert "equals reference" in judgments[0]["details"]["risky"]["rationale"]
        assert judgments[1]["failure"] is None and judgments[1]["rationale"]

        # chat-message responses: the last assistant message is scored
        r = client.post("/v1/score", json={"samples": [{"response": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "4"}], "reference": "4"}]})
        assert r.json()["judgments"][0]["score"] == 1.0

        r = client.post("/v1/compare", json={"pairs": [{"response_a": "4", "response_b": "5", "reference": "4"}]})
        assert r.status_code == 200 and r.json()["preferences"][0]["winner"] == "a"

        # OpenRLHF's remote reward: the query is prompt + response (+ special tokens)
        r = client.post("/get_reward", json={"query": ["Q: 2+2? A: 4<eos>", "Q: 1+1? A: 3<eos>", "unrelated"], "prompts": ["Q: 2+2? A:", "Q: 1+1? A:", "Q: 3+3?"], "labels": ["4", "2", "6"]})
        assert r.status_code == 200
        body = json.loads(r.text)  # Python's json, like OpenRLHF's client; NaN allowed
        assert body["rewards"][:2] == [1.0, 0.0] and math.isnan(body["rewards"][2])
        assert body["scores"][:2] == body["rewards"][:2]
        assert body["extra_logs"]["failed"] == [0.0, 0.0, 1.0]
        assert "does not contain its prompt" in body["rationales"][2]

        assert client.get("/health").json()["status"] == "ok"


def test_get_reward_failure_score_is_explicit():
    with ServerThread(config(), Settings(failure_score=-1.0)) as server, httpx.Client(base_url=server.url) as client:
        body = client.post("/get_reward", json={"query": ["Q raise"], "prompts": ["Q "], "labels": ["x"]}).json()
        assert body["rewards"] == [-1.0] and body["extra_logs"]["failed"] == [1.0]
        assert "injected failure" in body["rationales"][0]


def test_auth_on_and_off():
    with ServerThread(config(), Settings(token="s3cret")) as server, httpx.Client(base_url=server.url) as client:
        sample = {"samples": [{"response": "4", "reference": "4"}]}
        assert client.post("/v1/score", json=sample).status_code == 401
        wrong = client.post("/v1/score", json=sample, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "bearer token" in wrong.json()["error"]["message"]
        ok = client.post("/v1/score", json=sample, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert client.get("/metrics").status_code == 401
        assert client.get("/health").status_code == 200  # load balancers probe without a token
    with ServerThread(config()) as server, httpx.Client(base_url=server.url) as client:
        assert client.post("/v1/score", json={"samples": [{"response": "4"}]}).status_code == 200


def test_limits_and_malformed_requests_get_clear_4xx():
    with ServerThread(config(), Settings(max_body_bytes=2000, max_samples=3)) as server, httpx.Client(base_url=server.url) as client:
        big = client.post("/v1/score", json={"samples": [{"response": "x" * 5000}]})
        assert big.status_code == 413 and "limit" in big.json()["error"]["message"]
        # a chunked body with no Content-Length is counted as it arrives
        chunked = client.post("/v1/score", content=iter([b'{"samples": [{"response": "', b"x" * 3000, b'"}]}']))
        assert chunked.status_code == 413
        many = client.post("/v1/score", json={"samples": [{"response": "1"}] * 4})
        assert many.status_code == 413 and "limit per request is 3" in many.json()["error"]["message"]

        bad_json = client.post("/v1/score", content=b'{"samples": [', headers={"content-type": "application/json"})
        assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]["message"]
        assert client.post("/v1/score", content=b"").status_code == 400
        assert client.post("/v1/score", content=b"\xff\xfe").status_code == 400
        cases = [
            ([1, 2], "top level"),
            ({"sample": []}, "missing field 'samples'"),
            ({"samples": []}, "is empty"),
            ({"samples": "x"}, "must be a list"),
            ({"samples": [3]}, "samples[0] must be an object"),
            ({"samples": [{"prompt": "p"}]}, "missing field 'response'"),
            ({"samples": [{"response": 7}]}, "samples[0].response"),
            ({"samples": [{"response": "a"}], "timeout": -1}, "timeout"),
        ]
        for body, expected in cases:
            r = client.post("/v1/score", json=body)
            assert r.status_code == 422, body
            assert expected in r.json()["error"]["message"], (body, r.json())
        assert client.post("/v1/compare", json={"pairs": [{"response_a": "x"}]}).status_code == 422
        assert client.post("/get_reward", json={"query": ["a", "b"], "prompts": ["a"]}).status_code == 422
        assert client.post("/get_reward", json={"query": [1]}).status_code == 422
        assert client.get("/nope").status_code == 404
        # the server is still up and scoring
        assert client.post("/v1/score", json={"samples": [{"response": "4", "reference": "4"}]}).json()["judgments"][0]["score"] == 1.0


def test_a_reward_that_raises_fails_only_its_samples():
    with ServerThread(config()) as server, httpx.Client(base_url=server.url) as client:
        r = client.post("/v1/score", json={"samples": [{"response": "raise"}, {"response": "4", "reference": "4"}]})
        assert r.status_code == 200
        failed, ok = r.json()["judgments"]
        assert failed["score"] is None and failed["failure"]["kind"] == "internal"
        assert "injected failure" in failed["details"]["risky"]["rationale"]
        assert ok["score"] == 1.0
        metrics = client.get("/metrics").text
        assert 'assay_failures_total{endpoint="/v1/score",kind="internal"} 1' in metrics


def test_a_reward_that_hangs_gets_a_typed_timeout_failure():
    with ServerThread(config(), Settings(timeout=5.0)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        started = time.perf_counter()
        r = client.post("/v1/score", json={"samples": [{"response": "hang:3"}], "timeout": 0.5})
        elapsed = time.perf_counter() - started
        assert r.status_code == 200 and elapsed < 2.5
        judgment = r.json()["judgments"][0]
        assert judgment["score"] is None and judgment["failure"]["kind"] == "timeout"
        assert "0.5 s" in judgment["rationale"]
        assert "assay_timeouts_total" in client.get("/metrics").text
        # the server keeps serving while the hung call finishes in the background
        assert client.post("/v1/score", json={"samples": [{"response": "4", "reference": "4"}]}).json()["judgments"][0]["score"] == 1.0


def test_a_full_queue_answers_429():
    settings = Settings(max_batch=1, concurrency=1, queue_size=2, timeout=10.0)
    with ServerThread(config(), settings) as server:

        async def scenario() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                slow = [asyncio.create_task(client.post("/v1/score", json={"samples": [{"response": "hang:1.5"}]})) for _ in range(2)]
                await asyncio.sleep(0.4)  # both accepted: one running, one queued
                refused = await client.post("/v1/score", json={"samples": [{"response": "4"}]})
                assert refused.headers.get("retry-after") == "1"
                assert "server busy" in refused.json()["error"]["message"]
                done = await asyncio.gather(*slow)
                after = await client.post("/v1/score", json={"samples": [{"response": "4", "reference": "4"}]})
                return [refused.status_code, *(r.status_code for r in done), after.status_code]

        assert asyncio.run(scenario()) == [429, 200, 200, 200]
        assert 'assay_rejected_total{reason="queue_full"} 1' in httpx.get(server.url + "/metrics").text


def test_requests_from_many_clients_share_batches():
    settings = Settings(max_batch=64, max_wait_ms=50, concurrency=1)
    with ServerThread(config(), settings) as server:

        async def scenario() -> list[float]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                rs = await asyncio.gather(*(client.post("/v1/score", json={"samples": [{"response": str(i), "reference": str(i)}]}) for i in range(16)))
                return [r.json()["judgments"][0]["score"] for r in rs]

        assert asyncio.run(scenario()) == [1.0] * 16
        batcher = server.service.score_batcher
        assert batcher.batches < 16  # fewer reward calls than requests
        assert "assay_batch_size_bucket" in httpx.get(server.url + "/metrics").text


def test_groups_do_not_mix_across_requests():
    cfg = config({"combine": {"method": "weighted_sum", "normalize": "group_zscore"}})
    settings = Settings(max_batch=64, max_wait_ms=100, concurrency=1)
    with ServerThread(cfg, settings) as server:

        async def scenario() -> list[list[float]]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                a = {"samples": [{"response": "1", "reference": "1", "group": "g"}, {"response": "0", "reference": "1", "group": "g"}]}
                b = {"samples": [{"response": "1", "reference": "1", "group": "g"}, {"response": "1", "reference": "1", "group": "g"}]}
                rs = await asyncio.gather(client.post("/v1/score", json=a), client.post("/v1/score", json=b))
                return [[j["score"] for j in r.json()["judgments"]] for r in rs]

        first, second = asyncio.run(scenario())
        assert first[0] > 0 > first[1]  # normalised within its own request's group
        assert second == [0.0, 0.0]  # equal scores in its own group: no spread from the other request


def test_graceful_shutdown_answers_accepted_requests():
    server = ServerThread(config()).start()
    results: dict[str, object] = {}

    def call() -> None:
        results["response"] = httpx.post(server.url + "/v1/score", json={"samples": [{"response": "hang:1", "reference": "x"}]}, timeout=30)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.3)
    server.stop()
    caller.join(10)
    response = results["response"]
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.json()["judgments"][0]["score"] == 0.0  # type: ignore[attr-defined]
    assert not server.thread.is_alive()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_assay_serve_command(tmp_path):
    cfg = tmp_path / "rewards.yaml"
    cfg.write_text(json.dumps(config()))  # JSON is YAML
    port = _free_port()
    env = {**os.environ, "MY_TOKEN": "tok"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "serve", "--config", str(cfg), "--port", str(port), "--token-env", "MY_TOKEN", "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        r = httpx.post(url + "/v1/score", json={"samples": [{"response": "4", "reference": "4"}]}, headers={"Authorization": "Bearer tok"})
        assert r.status_code == 200 and r.json()["judgments"][0]["score"] == 1.0
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why it stopped
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Traceback" not in out, out


def test_assay_serve_refuses_a_missing_token_variable(tmp_path):
    cfg = tmp_path / "rewards.yaml"
    cfg.write_text(json.dumps(config()))
    proc = subprocess.run([sys.executable, "-m", "assay", "serve", "--config", str(cfg), "--token-env", "ASSAY_NO_SUCH_VAR"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "ASSAY_NO_SUCH_VAR" in proc.stderr


def test_bench_load_client_reads_every_answer_as_httpx_does():
    """perf/serve_load.py measures with its own light HTTP client; it must see what httpx sees."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("load_client", REPO / "perf" / "load_client.py")
    load_client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load_client)
    bodies = [json.dumps({"samples": [{"response": f"answer {i}", "reference": "answer 3"}]}).encode() for i in range(40)]
    bodies[7] = b'{"samples": [{"response": "unterminated'
    bodies[9] = b"[1, 2]"
    with ServerThread(config()) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        result = asyncio.run(load_client.run_clients(server.url, bodies, clients=4))
        expected = [client.post("/v1/score", content=body, headers={"content-type": "application/json"}) for body in bodies]
    assert result["errors"] == [] and len(result["latencies"]) == len(bodies)
    assert [result["statuses"][i] for i in range(len(bodies))] == [r.status_code for r in expected]
    assert {i: a for i, a in result["answers"].items()} == {i: r.json() for i, r in enumerate(expected) if r.status_code == 200}
    assert result["statuses"][7] == 400 and result["statuses"][9] == 422


def test_a_hung_reward_call_gives_up_its_slot_and_a_request_that_never_fits_is_413():
    """With one slot, a reward call that hangs past the server's timeout must not block the
    next request: the call's requests get typed timeouts and the slot frees."""
    settings = Settings(timeout=2.0, concurrency=1, max_batch=1)
    with ServerThread(config(), settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        hung = client.post("/v1/score", json={"samples": [{"response": "hang:30", "reference": "x"}]}).json()["judgments"][0]
        assert hung["score"] is None and hung["failure"]["kind"] == "timeout"
        started = time.monotonic()
        ok = client.post("/v1/score", json={"samples": [{"response": "4", "reference": "4"}]}).json()["judgments"][0]
        assert ok["score"] is not None and time.monotonic() - started < 5
    with ServerThread(config(), Settings(queue_size=2)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        never_fits = client.post("/v1/score", json={"samples": [{"response": "4"}] * 3})
        assert never_fits.status_code == 413 and "queue holds 2" in never_fits.json()["error"]["message"]
