"""Slow clients against the reward server: N slowloris connections (a partial request head,
then nothing), then the latency of ``/health`` and of a score request while they are open,
and how long until the server has closed all of them (its header timeout).

Why: before the header timeout and connection cap (issue 12), 300 such connections took the
server down. The figure is in docs/reliability.md. What not: a rate test (see serve_load.py).

    PYTHONPATH=. python perf/slow_clients.py --connections 300
"""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

import httpx

from assay.serve.app import Settings
from assay.serve.runner import ServerThread

FUNCS = Path(__file__).resolve().parents[1] / "tests" / "serve_rewards.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=300)
    args = parser.parse_args()
    config = {"rewards": {"risky": {"type": "function", "path": f"{FUNCS}:risky"}}}
    settings = Settings()
    with ServerThread(config, settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        opened = time.perf_counter()
        slow = []
        for _ in range(args.connections):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)
        started = time.perf_counter()
        health = client.get("/health")
        health_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        scored = client.post("/v1/score", json={"samples": [{"response": "4", "reference": "4"}]})
        score_ms = (time.perf_counter() - started) * 1000
        print(f"{args.connections} slow connections open: /health {health.status_code} in {health_ms:.1f} ms, /v1/score {scored.status_code} in {score_ms:.1f} ms")
        for s in slow:
            s.settimeout(settings.header_timeout + 10)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
            s.close()
        print(f"all closed by the server {time.perf_counter() - opened:.1f} s after the first opened (header timeout {settings.header_timeout:g} s)")


if __name__ == "__main__":
    main()
