"""Judge throughput: concurrent judge calls against sequential ones, and the request cache.

A local OpenAI-compatible server answers every chat request after a fixed latency L (a
stand-in for a real model server whose cost is its latency). assay's pointwise judge scores
N samples with concurrency C; the bound is C/L requests per second, and assay must reach at
least 90% of it. The same judge with concurrency 1 (the usual sequential loop) runs in the
same process on the same inputs, and the scores must agree. A second run with the cache on
must make zero backend calls.

    .venv/bin/python perf/judge_concurrency.py [--latency 1.0] [--concurrency 32] [-n 256]

Writes perf/results/judge_concurrency.json and .md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from assay.rewards.judges.pointwise import PointwiseJudge
from assay.types import Sample

RESULTS = Path(__file__).resolve().parent / "results"


class FixedLatencyHandler(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions after `latency` seconds with a critique and a score."""

    latency = 0.2
    calls = 0
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = str(type(self).calls).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            type(self).calls += 1
        time.sleep(self.latency)
        text = payload["messages"][-1]["content"]
        score = 1 + len(text) % 10  # deterministic, differs between inputs
        body = json.dumps({
            "model": payload["model"],
            "choices": [{"message": {"role": "assistant", "content": f"The response is adequate.\nScore: {score}/10"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the listen backlog: the default 5 drops concurrent connects


def serve(latency: float) -> None:
    """Run the fixed-latency server in this process (a child of the benchmark), printing its port."""
    FixedLatencyHandler.latency = latency
    server = Server(("127.0.0.1", 0), FixedLatencyHandler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    """The server runs in its own process, as a real model server would: it must not share
    the benchmark's interpreter (and GIL) with the client being measured."""
    process = subprocess.Popen([sys.executable, __file__, "--serve", "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}/v1"


def server_calls(url: str) -> int:
    """How many chat requests the server has answered (GET /calls)."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/calls", timeout=10) as response:
        return int(response.read())


def timed(judge: PointwiseJudge, samples: list[Sample]) -> tuple[float, list[float | None]]:
    judge.score(samples[:1])  # warm up: client, first connection
    started = time.perf_counter()
    judgments = judge.score(samples)
    return time.perf_counter() - started, [j.score for j in judgments]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("-n", type=int, default=256)
    parser.add_argument("--sequential", type=int, default=4, help="samples for the sequential baseline (it is slow by design)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency)
        return 0

    server, url = start_server(args.latency)
    samples = [Sample(prompt=f"Question {i}?", response="An answer " + "x" * i) for i in range(args.n)]
    options = {"base_url": url, "model": "fixed-latency", "max_tokens": 64}
    concurrent_s, concurrent_scores = timed(PointwiseJudge(concurrency=args.concurrency, **options), samples)
    sequential_s, sequential_scores = timed(PointwiseJudge(concurrency=1, **options), samples[: args.sequential])

    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "judge-cache.sqlite")
        PointwiseJudge(concurrency=args.concurrency, cache=cache, **options).score(samples)
        before = server_calls(url)
        rerun = PointwiseJudge(concurrency=args.concurrency, cache=cache, **options).score(samples)
        cache_calls = server_calls(url) - before
    server.terminate()
    server.wait(timeout=10)

    bound = args.concurrency / args.latency
    throughput = args.n / concurrent_s
    sequential = args.sequential / sequential_s
    agree = concurrent_scores[: args.sequential] == sequential_scores and [j.score for j in rerun] == concurrent_scores
    failures = sum(s is None for s in concurrent_scores)
    result = {
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "n": args.n,
        "bound_per_s": bound,
        "assay_per_s": throughput,
        "fraction_of_bound": throughput / bound,
        "sequential_per_s": sequential,
        "speedup_vs_sequential": throughput / sequential,
        "scores_agree": agree,
        "failures": failures,
        "cache_rerun_backend_calls": cache_calls,
        "meets_targets": throughput >= 0.9 * bound and cache_calls == 0 and agree and failures == 0,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "judge_concurrency.json").write_text(json.dumps(result, indent=2))
    table = "\n".join([
        "# judge concurrency",
        "",
        f"Fixed-latency OpenAI-compatible server on loopback, L = {args.latency:g} s; pointwise judge over {args.n} samples.",
        "Command: `.venv/bin/python perf/judge_concurrency.py`",
        "",
        "| measure | value |",
        "|---|---|",
        f"| bound C/L (C = {args.concurrency}) | {bound:.1f} req/s |",
        f"| assay, concurrency {args.concurrency} | {throughput:.1f} req/s ({throughput / bound:.0%} of the bound) |",
        f"| sequential (concurrency 1, {args.sequential} samples) | {sequential:.2f} req/s |",
        f"| speed-up over sequential | {throughput / sequential:.1f}x |",
        f"| scores agree (concurrent = sequential = cached rerun) | {agree} |",
        f"| failures | {failures} |",
        f"| backend calls on the cached rerun | {cache_calls} |",
    ])
    (RESULTS / "judge_concurrency.md").write_text(table + "\n")
    print(table)
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
