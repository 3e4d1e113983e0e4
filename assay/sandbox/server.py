"""assay's sandbox behind SandboxFusion's ``POST /run_code`` API, so veRL (its
``sandbox_fusion`` reward) and anything else that speaks that API can use it.

    python -m assay.sandbox.server --port 8080 [--host 127.0.0.1] [--backend bwrap]

Requests and answers are SandboxFusion's (see ``assay/sandbox/remote.py``); ``GET /ping``
answers ``pong``. Every request runs through the process's shared sandbox pool, so the
server never runs more programs at once than the pool allows; the rest wait in the pool's
queue. A request that is not valid JSON of that shape is a 400 with the reason; a sandbox
that cannot run is ``{"status": "SandboxError", "message": ...}``.

Not covered: authentication and TLS (bind it to loopback or a private network, or put it
behind a proxy that has them).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from assay.sandbox import Sandbox
from assay.sandbox.limits import COMPILE_LIMITS, Limits
from assay.sandbox.result import RunResult, SandboxError

MAX_BODY = 16 << 20


class BadRequest(ValueError):
    pass


def _number(body: dict, key: str, default: float, low: float, high: float) -> float:
    value = body.get(key, default)
    if value is None or value == -1:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise BadRequest(f"{key} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def answer(sandbox: Sandbox, body: Any) -> dict:
    """The /run_code answer for one request body (raises BadRequest for a malformed one)."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    code, language = body.get("code"), body.get("language", "python")
    if not isinstance(code, str):
        raise BadRequest("code must be a string")
    if not isinstance(language, str):
        raise BadRequest("language must be a string")
    stdin = body.get("stdin") or ""
    if not isinstance(stdin, str):
        raise BadRequest("stdin must be a string")
    files = body.get("files") or {}
    if not isinstance(files, dict):
        raise BadRequest("files must be an object: name -> base64 content")
    try:
        decoded = {str(k): base64.b64decode(v, validate=True).decode("utf-8") for k, v in files.items()}
    except (binascii.Error, UnicodeDecodeError, TypeError) as error:
        raise BadRequest(f"files must hold base64 of UTF-8 text ({error})") from None
    if any(name.startswith("/") or ".." in name.split("/") for name in decoded):
        raise BadRequest("file names must be relative and stay inside the working directory")
    try:
        lang = sandbox.language(language)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    limits = Limits(wall_seconds=_number(body, "run_timeout", 10, 0.1, 600), memory_mb=int(_number(body, "memory_limit_MB", 1024, 16, 65536)))
    compile_limits = COMPILE_LIMITS.replace(wall_seconds=_number(body, "compile_timeout", COMPILE_LIMITS.wall_seconds, 0.1, 600))
    try:
        result = sandbox.execute(sandbox.job(code, lang, (stdin,), decoded, limits, compile_limits, fork=False))
    except SandboxError as error:
        return {"status": "SandboxError", "message": str(error), "compile_result": None, "run_result": None, "files": {}}
    compiled = _shape(result.compile) if result.compile else None
    if result.compile_failed:
        return {"status": "Failed", "message": "compile error", "compile_result": compiled, "run_result": None, "files": {}}
    run = result.cases[0]
    return {"status": "Success" if run.ok else "Failed", "message": "" if run.ok else run.describe(),
            "compile_result": compiled, "run_result": _shape(run), "files": {}}


def _shape(run: RunResult) -> dict:
    status = "TimeLimitExceeded" if run.status == "timeout" else "Finished" if run.exit_code is not None else "Error"
    return {"status": status, "execution_time": run.wall_seconds, "return_code": run.exit_code,
            "stdout": run.stdout, "stderr": run.stderr}


def make_server(host: str = "127.0.0.1", port: int = 8080, sandbox: Sandbox | None = None) -> ThreadingHTTPServer:
    sandbox = sandbox or Sandbox()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet; errors are in the answers
            pass

        def _send(self, status: int, payload: Any) -> None:
            data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/ping", "/v1/ping"):
                self._send(200, "pong")
            else:
                self._send(404, {"detail": f"no route {self.path}"})

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/run_code":
                self._send(404, {"detail": f"no route {self.path}; this server answers POST /run_code"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, {"detail": f"body of {length} bytes is over the {MAX_BODY} byte limit"})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"null")
                self._send(200, answer(sandbox, body))
            except (ValueError, BadRequest) as error:
                self._send(400, {"detail": str(error)})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve_in_thread(host: str = "127.0.0.1", port: int = 0, sandbox: Sandbox | None = None) -> tuple[ThreadingHTTPServer, str]:
    """Start a server on a background thread (port 0: any free port); returns it and its url."""
    server = make_server(host, port, sandbox)
    threading.Thread(target=server.serve_forever, name="assay-sandbox-server", daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="assay's sandbox behind SandboxFusion's POST /run_code API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--backend", default="auto", choices=["auto", "bwrap", "unshare", "subprocess"])
    args = parser.parse_args(argv)
    sandbox = Sandbox(args.backend)
    sandbox.backend.check()
    server = make_server(args.host, args.port, sandbox)
    print(f"assay sandbox ({sandbox.backend.name}) on http://{args.host}:{args.port}/run_code", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
