"""Load test of the reward server (``assay serve``): throughput and latency with 32
concurrent clients, micro-batching against batch size 1, and a soak with malformed requests
and injected reward failures.

Each configuration runs a real server in its own process (``python -m assay serve``) on
loopback; the clients are 32 keep-alive connections in this process (``load_client.py``:
raw HTTP/1.1 over asyncio, so that the clients do not eat the CPU the server is measured
on), each sending one-sample ``POST /v1/score`` requests back to back. Texts come from
GSM8K, so the semantic reward encodes real, distinct texts.

1. Throughput: for a rule reward (``exact_match`` + ``regex``) and for the ``semantic``
   reward (MiniLM on CPU) at three text sizes (final answers, answer sentences, worked
   solutions), with ``--max-batch 32`` (micro-batching, 5 ms wait) and ``--max-batch 1``:
   requests/s, p50/p99 latency, mean batch size (from ``/metrics``).
2. Soak: >= 10,000 requests to a rule + function reward where 5% of requests are malformed
   (bad JSON, wrong shapes) and ~5% make the reward raise. It checks that every request got
   an answer, malformed ones a 4xx, all others 200 (raised ones as typed ``internal``
   failures), no 5xx, and that the server's RSS grew by less than the stated bound between
   the end of warm-up and the end.

    python perf/serve_load.py                     # writes perf/results/serve_load.{json,md}
    python perf/serve_load.py --quick             # a short smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from load_client import run_clients

from assay.paths import data_dir

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "perf" / "results"
CLIENTS = 32
RSS_BOUND_MB = 16.0  # the soak fails if the server grows more than this after warm-up

FLAKY = '''
def flaky(response, reference=None):
    """Raises for responses starting with 'RAISE' (injected failures); else a length score."""
    if response.startswith("RAISE"):
        raise RuntimeError("injected failure for the soak test")
    return min(1.0, len(response) / 200.0), f"{len(response)} characters"
'''


def load_texts(limit: int = 2000) -> tuple[list[tuple[str, str]], str]:
    """(question, worked solution) pairs from GSM8K (``ASSAY_DATA_DIR`` or ../shared/data),
    and where they came from; without the data, synthetic distinct texts, said loudly."""
    folder = data_dir()
    path = folder / "gsm8k" / "train.jsonl" if folder else None
    if path is not None and path.is_file():
        pairs = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                pairs.append((row["question"], row["answer"]))
                if len(pairs) >= limit:
                    break
        return pairs, str(path)
    print("GSM8K not found (set ASSAY_DATA_DIR): using synthetic texts; figures are not comparable", file=sys.stderr)
    rng = random.Random("serve_load")
    words = "apple train river seven market count price dozen half total minute hour".split()
    return [(" ".join(rng.choices(words, k=30)), " ".join(rng.choices(words, k=40))) for _ in range(limit)], "synthetic (no GSM8K found)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m assay serve`` in a child process, with its RSS readable."""

    def __init__(self, config: Path, max_batch: int, extra: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "assay", "serve", "--config", str(config), "--port", str(self.port),
                "--max-batch", str(max_batch), "--max-wait-ms", "5", "--queue-size", "4096", "--timeout", "120", "--log-level", "warning", *(extra or [])]
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"server exited: {self.log.read()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise TimeoutError("server did not start")

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def metrics(self) -> str:
        return httpx.get(self.url + "/metrics", timeout=10).text

    def mean_batch(self) -> float | None:
        text = self.metrics()
        s = re.search(r'assay_batch_size_sum\{batcher="score"\} ([\d.e+-]+)', text)
        c = re.search(r'assay_batch_size_count\{batcher="score"\} (\d+)', text)
        return float(s.group(1)) / int(c.group(1)) if s and c and int(c.group(1)) else None

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def sample_body(pair: tuple[str, str], tag: int) -> bytes:
    question, answer = pair
    return json.dumps({"samples": [{"prompt": question, "response": f"{question} (attempt {tag})", "reference": answer}]}).encode()


def final_number(solution: str) -> str:
    return solution.rsplit("####", 1)[-1].strip()


def grpo_body(texts: list[tuple[str, str]], i: int, size: str) -> bytes:
    """RL traffic: 8 rollouts per prompt share its reference; each rollout is a distinct text
    (another problem's worked solution stands in for a policy's attempt, and the request
    number is appended so that no two responses are equal: no gains from deduplication).

    ``size``: ``answer`` (the final number against the gold number, ~6 tokens),
    ``sentence`` (the line that states the answer against ``#### N``, ~28 tokens) or
    ``solution`` (whole worked solutions, ~130 tokens)."""
    question, answer = texts[(i // 8) % len(texts)]
    _, attempt = texts[(i * 7 + 3) % len(texts)]
    if size == "answer":
        response, reference = f"{final_number(attempt)} ({i})", final_number(answer)
    elif size == "sentence":
        response, reference = f"{attempt.splitlines()[-2][:80]} ({i})", answer.splitlines()[-1]
    else:
        response, reference = f"{attempt} ({i})", answer
    return json.dumps({"samples": [{"prompt": question, "response": response, "reference": reference, "group": i // 8}]}).encode()


def throughput(name: str, config: Path, make_body: Any, requests: dict[int, int], extra: list[str] | None = None, repeats: int = 3) -> list[dict[str, Any]]:
    """Both servers (max batch 32 and 1) run side by side; their runs alternate ``repeats``
    times, so a change in the machine's load hits both alike. Each row is the run with the
    median throughput; ``runs_rps`` lists every run."""
    servers = {max_batch: Server(config, max_batch, extra) for max_batch in (32, 1)}
    runs: dict[int, list[dict[str, Any]]] = {32: [], 1: []}
    try:
        for server in servers.values():
            asyncio.run(run_clients(server.url, [make_body(-i - 1) for i in range(64)]))  # warm-up (model load)
        for repeat in range(repeats):
            for max_batch, server in servers.items():
                n = requests[max_batch]
                bodies = [make_body(repeat * n + i) for i in range(n)]
                result = asyncio.run(run_clients(server.url, bodies))
                runs[max_batch].append({
                    "requests": n,
                    "ok": sum(1 for s in result["statuses"].values() if s == 200),
                    "seconds": round(result["elapsed"], 2),
                    "throughput_rps": round(sum(1 for s in result["statuses"].values() if s == 200) / result["elapsed"], 1),  # answered requests only
                    "p50_ms": round(1000 * percentile(result["latencies"], 50), 1),
                    "p99_ms": round(1000 * percentile(result["latencies"], 99), 1),
                    "transport_errors": len(result["errors"]),
                })
        mean_batch = {max_batch: server.mean_batch() for max_batch, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    rows = []
    for max_batch, mine in runs.items():
        median = sorted(mine, key=lambda r: r["throughput_rps"])[len(mine) // 2]
        row = {"reward": name, "max_batch": max_batch, **median, "mean_batch_size": round(mean_batch[max_batch], 2) if mean_batch[max_batch] else None,
               "runs_rps": [r["throughput_rps"] for r in mine],
               "every_run_answered": all(r["ok"] == r["requests"] and not r["transport_errors"] for r in mine)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


MALFORMED = [
    b'{"samples": [{"response": "unterminated',
    b'{"samples": {}}',
    b'{"samples": [{"prompt": "no response"}]}',
    b'{"samples": [{"response": 42}]}',
    b"[1, 2, 3]",
    b"",
]


def soak(config: Path, texts: list[tuple[str, str]], total: int) -> dict[str, Any]:
    rng = random.Random("soak")
    bodies: list[bytes] = []
    kinds: list[str] = []
    for i in range(total):
        roll = rng.random()
        if roll < 0.05:
            bodies.append(MALFORMED[i % len(MALFORMED)])
            kinds.append("malformed")
        elif roll < 0.10:
            bodies.append(json.dumps({"samples": [{"response": f"RAISE {i}", "reference": "x"}]}).encode())
            kinds.append("raises")
        else:
            bodies.append(sample_body(texts[i % len(texts)], i))
            kinds.append("ok")
    server = Server(config, 32)
    try:
        warm = max(1000, total // 10)
        first = asyncio.run(run_clients(server.url, bodies[:warm]))
        rss_after_warmup = server.rss_mb()
        rest = asyncio.run(run_clients(server.url, bodies[warm:]))
        rss_end = server.rss_mb()
        metrics = server.metrics()
    finally:
        exit_code = server.stop()
    statuses = {**first["statuses"], **{k + warm: v for k, v in rest["statuses"].items()}}
    answers = {**first["answers"], **{k + warm: v for k, v in rest["answers"].items()}}
    errors = first["errors"] + rest["errors"]
    by_status: dict[str, int] = {}
    for code in statuses.values():
        by_status[str(code)] = by_status.get(str(code), 0) + 1
    wrong = []
    answers = {i: a["judgments"][0] for i, a in answers.items()}
    for i, kind in enumerate(kinds):
        code = statuses.get(i)
        if code is None:
            wrong.append((i, kind, "no answer"))
        elif kind == "malformed" and not 400 <= code < 500:
            wrong.append((i, kind, code))
        elif kind != "malformed" and code != 200:
            wrong.append((i, kind, code))
        elif kind == "raises" and (answers[i]["failure"] or {}).get("kind") != "internal":
            wrong.append((i, kind, "not a typed internal failure"))
        elif kind == "ok" and answers[i]["score"] is None:
            wrong.append((i, kind, "no score"))
    fives = sum(1 for code in statuses.values() if code >= 500)
    growth = rss_end - rss_after_warmup
    result = {
        "requests": total,
        "malformed": kinds.count("malformed"),
        "injected_failures": kinds.count("raises"),
        "answered": len(statuses),
        "transport_errors": len(errors),
        "by_status": by_status,
        "unexpected": len(wrong),
        "unexpected_examples": [str(w) for w in wrong[:5]],
        "5xx": fives,
        "rss_after_warmup_mb": round(rss_after_warmup, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_growth_mb": round(growth, 1),
        "rss_bound_mb": RSS_BOUND_MB,
        "seconds": round(first["elapsed"] + rest["elapsed"], 1),
        "server_exit_code": exit_code,
        "metrics_internal_failures": int(float(m.group(1))) if (m := re.search(r'assay_failures_total\{endpoint="/v1/score",kind="internal"\} ([\d.]+)', metrics)) else 0,
    }
    result["passed"] = bool(len(statuses) == total and not errors and not wrong and fives == 0 and growth < RSS_BOUND_MB)
    print(json.dumps(result), flush=True)
    return result


def write_results(report: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve_load.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Reward server load test (`perf/serve_load.py`)",
        "",
        f"Machine: {report['machine']}; load average at the end {tuple(round(x, 1) for x in report['load_average_at_end'])} "
        "(the machine was shared with other jobs, so absolute figures are noisy). "
        f"{CLIENTS} concurrent clients, one sample per request, server and clients on one host (loopback). "
        "Semantic traffic is RL-shaped: 8 rollouts per prompt share the prompt's reference; every response is distinct. "
        "Text sizes: final answers (the number after `####`, ~6 tokens with the request number), answer sentences "
        "(the line stating the answer, ~28 tokens), worked solutions (~130 tokens). "
        "The ceiling batching allows the encoder on this CPU is in [encoder_batching.md](encoder_batching.md).",
        "",
        "## Throughput: micro-batching (max batch 32, 5 ms wait) against batch size 1",
        "",
        "| reward | max batch | requests | req/s (median run) | every run | p50 ms | p99 ms | mean batch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["throughput"]:
        lines.append(f"| {row['reward']} | {row['max_batch']} | {row['requests']} | {row['throughput_rps']} | {', '.join(map(str, row['runs_rps']))} | {row['p50_ms']} | "
            f"{row['p99_ms']} | {row['mean_batch_size']} |")
    lines += ["", "Speed-up from micro-batching (median throughput, batch 32 / batch 1; the two servers' runs alternate):", ""]
    for name, value in report["speedup"].items():
        lines.append(f"- {name}: {value}x")
    s = report["soak"]
    lines += [
        "",
        "## Soak",
        "",
        f"{s['requests']} requests ({s['malformed']} malformed, {s['injected_failures']} making the reward raise), {s['seconds']} s.",
        "",
        f"- answered: {s['answered']} / {s['requests']}; transport errors: {s['transport_errors']}",
        f"- status codes: {s['by_status']}; 5xx: {s['5xx']}",
        f"- responses not as expected (malformed -> 4xx, raised -> 200 with a typed internal failure, others -> 200 with a score): {s['unexpected']}",
        f"- server RSS: {s['rss_after_warmup_mb']} MiB after warm-up, {s['rss_end_mb']} MiB at the end (growth {s['rss_growth_mb']} MiB; bound {s['rss_bound_mb']} MiB)",
        f"- server exit after SIGTERM: {s['server_exit_code']} (uvicorn re-raises SIGTERM after a graceful shutdown: -15)",
        f"- passed: {s['passed']}",
        "",
    ]
    (RESULTS / "serve_load.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run; results not written)")
    parser.add_argument("--soak", type=int, default=30000, help="requests in the soak (default 30000)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per configuration; the median is reported (default 3)")
    args = parser.parse_args(argv)
    texts, source = load_texts()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "flaky.py").write_text(FLAKY)
        rule = tmp_path / "rule.yaml"
        rule.write_text(json.dumps({"rewards": {"match": {"type": "exact_match"}, "fmt": {"type": "regex", "pattern": "\\d+", "mode": "search", "weight": 0.5}}}))
        semantic = tmp_path / "semantic.yaml"
        semantic.write_text(json.dumps({"rewards": {"similar": {"type": "semantic"}}}))
        soak_config = tmp_path / "soak.yaml"
        soak_config.write_text(json.dumps({"rewards": {"length": {"type": "function", "path": "flaky.py:flaky"}, "fmt": {"type": "regex", "pattern": "\\d+", "mode": "search", "weight": 0.5}}}))
        scale = 4 if args.quick else 1
        repeats = 1 if args.quick else args.repeats
        rows = throughput("rule", rule, lambda i: sample_body(texts[i % len(texts)], i), {32: 4000 // scale, 1: 4000 // scale}, None, repeats)
        # one model forward at a time on this small CPU; the same settings for both batch sizes
        model_settings = ["--concurrency", "1"]
        for size, label, n in (("answer", "final answers", 1920), ("sentence", "answer sentences", 1280), ("solution", "worked solutions", 640)):
            rows += throughput(f"semantic ({label})", semantic, lambda i, size=size: grpo_body(texts, i, size), {32: n // scale, 1: n // 4 // scale}, model_settings, repeats)
        soak_result = soak(soak_config, texts, 1000 if args.quick else args.soak)
    speed = {}
    for name in dict.fromkeys(r["reward"] for r in rows):
        by = {r["max_batch"]: r["throughput_rps"] for r in rows if r["reward"] == name}
        speed[name] = round(by[32] / by[1], 2)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "clients": CLIENTS,
        "throughput": rows,
        "speedup": speed,
        "soak": soak_result,
        "targets": {"semantic_speedup_at_least": 3.0, "soak_rss_growth_below_mb": RSS_BOUND_MB},
        "met": {
            "semantic_speedup": max(v for k, v in speed.items() if k.startswith("semantic")) >= 3.0,
            "soak": soak_result["passed"],
            "every_request_answered": all(r["every_run_answered"] for r in rows),
        },
        "texts": source,
        "semantic_speedup_at_least_3_for": [k for k, v in speed.items() if k.startswith("semantic") and v >= 3.0],
        "load_average_at_end": os.getloadavg(),
    }
    print(json.dumps({"speedup": speed, "met": report["met"]}))
    if not args.quick:
        write_results(report)
    return 0 if all(report["met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
