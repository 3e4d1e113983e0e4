"""A light load generator: many keep-alive HTTP/1.1 connections over asyncio streams.

Why not httpx: on a 2-core machine shared by the server and its clients, an httpx
``AsyncClient`` spends about 4 ms of CPU per request, more than the server spends on a rule
reward, so a load test with it measures the client. This client writes each request as
bytes and reads the answer by ``Content-Length`` (or chunked encoding): about 0.1 ms.

    >>> result = asyncio.run(run_clients("http://127.0.0.1:8000", [b'{"samples": [...]}'] * 100))  # doctest: +SKIP
    >>> result["statuses"], result["latencies"], result["answers"]                                  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit


class Connection:
    """One keep-alive connection; ``post`` sends a request and returns (status, body bytes)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        self.writer.write(head.encode() + body)
        status_line, *header_lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            data = await self._chunked()
        else:  # the server closes the connection to end the body
            data = await self.reader.read()
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return int(status_line.split()[1]), data

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


async def run_clients(url: str, bodies: list[bytes], clients: int = 32, path: str = "/v1/score") -> dict[str, Any]:
    """POST every body once, from ``clients`` concurrent connections, each sending its next
    request when the last one is answered.

    Returns ``elapsed`` seconds, ``latencies`` (seconds, one per answered request),
    ``statuses`` and ``answers`` (parsed JSON of 200 answers) by body index, and ``errors``
    (transport errors; the connection is reopened and the worker goes on).
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    pending = list(enumerate(bodies))
    pending.reverse()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    answers: dict[int, Any] = {}
    errors: list[str] = []

    async def worker() -> None:
        connection = Connection(host, port)
        try:
            while pending:
                index, body = pending.pop()
                started = time.perf_counter()
                try:
                    status, data = await connection.post(path, body)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    await connection.close()
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[index] = status
                if status == 200:
                    answers[index] = json.loads(data)
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return {"elapsed": time.perf_counter() - started, "latencies": latencies, "statuses": statuses, "answers": answers, "errors": errors}
