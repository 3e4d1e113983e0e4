"""``assay serve --config CONFIG --port PORT``: the reward server (see docs/serving.md).

Scores over HTTP with micro-batching across clients; OpenRLHF can point ``--reward.remote_url`` (``--remote_rm_url`` before 0.11)
at ``http://HOST:PORT/get_reward``. Stop it with Ctrl-C or SIGTERM: requests already
accepted are answered before it exits.
"""

from __future__ import annotations

import argparse
import os
import sys

EXAMPLE = """\
example:
  export ASSAY_TOKEN=$(openssl rand -hex 16)       # optional: require a bearer token
  assay serve --config examples/gsm8k_grpo.yaml --port 8000 --token-env ASSAY_TOKEN
  curl -s localhost:8000/v1/score -H "Authorization: Bearer $ASSAY_TOKEN" \\
       -d '{"samples": [{"prompt": "2+2?", "response": "#### 4", "reference": "4"}]}'

endpoints: POST /v1/score, POST /v1/compare, POST /get_reward (OpenRLHF), POST /slime (slime's remote_rm),
  POST /verify (a NeMo Gym resources server; /seed_session, /close_session), GET /health, GET /metrics
"""


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="serve the rewards of a config over HTTP (micro-batched; OpenRLHF-compatible /get_reward)",
        description=__doc__,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", "-c", required=True, help="reward config (YAML or TOML)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 for all interfaces)")
    parser.add_argument("--port", "-p", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--token-env", metavar="VAR", help="require 'Authorization: Bearer <token>' with the token read from this environment variable")
    parser.add_argument("--max-batch", type=int, default=32, help="most samples per reward call (default 32; 1 disables micro-batching)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a request waits for others to batch with (default 5 ms)")
    parser.add_argument("--queue-size", type=int, default=1024, help="samples accepted and not yet scored before answering 429 (default 1024)")
    parser.add_argument("--concurrency", type=int, default=2, help="reward calls running at once (default 2)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a request may wait; then its samples get 'timeout' failures (default 60)")
    parser.add_argument("--max-body-mb", type=float, default=8.0, help="largest request body in MiB; larger gets 413 (default 8)")
    parser.add_argument("--max-samples", type=int, default=None, help="most samples per request; more gets 413 (default: the queue size)")
    parser.add_argument("--failure-score", type=float, default=None, help="for /get_reward, /slime and /verify: the number a failed total becomes (default NaN; 0.0 on /verify; see docs/serving.md)")
    parser.add_argument("--reward-threads", type=int, default=16, help="threads for synchronous reward calls (default 16)")
    parser.add_argument("--max-abandoned", type=int, default=64, help="reward calls still running past their timeout (each holds a thread) before /health reports the server wedged (default 64)")
    parser.add_argument("--header-timeout", type=float, default=10.0, help="seconds a connection may take to send its request headers; then it is closed (default 10)")
    parser.add_argument("--body-timeout", type=float, default=30.0, help="seconds a request may take to send its body; then 408 (default 30)")
    parser.add_argument("--max-connections", type=int, default=1000, help="open connections; beyond, an immediate 503 (default 1000; 0: no cap)")
    parser.add_argument("--keep-alive", type=float, default=5.0, help="seconds an idle keep-alive connection stays open (default 5)")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false", help="do not start reward worker pools (math) before serving")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from assay.serve.app import Settings, serve
    from assay.spec import ConfigError

    token = None
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            print(f"error: --token-env {args.token_env}: that environment variable is not set or empty", file=sys.stderr)
            return 2
    try:
        settings = Settings(
            max_batch=args.max_batch,
            max_wait_ms=args.max_wait_ms,
            queue_size=args.queue_size,
            concurrency=args.concurrency,
            timeout=args.timeout,
            max_body_bytes=int(args.max_body_mb * 1024 * 1024),
            max_samples=args.max_samples or args.queue_size,
            token=token,
            failure_score=args.failure_score,
            reward_threads=args.reward_threads,
            max_abandoned=args.max_abandoned,
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
            max_connections=args.max_connections,
            keep_alive=args.keep_alive,
            warm_up=args.warm_up,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        serve(args.config, host=args.host, port=args.port, settings=settings, log_level=args.log_level)
    except (ConfigError, ImportError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
