"""Protection against slow and numerous clients, at the HTTP-connection level: a cap on open
connections and a deadline for a request's headers, on top of uvicorn's own limits.

Why: uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and answers 503
past ``limit_concurrency``, but a connection that sends its request headers a byte at a time
(or never) is held forever and counts against every limit: a few hundred such clients take
a server down. :func:`uvicorn_config` builds the server's uvicorn configuration with

- ``header_timeout``: a connection that has not sent a complete request head within this
  many seconds of opening (or of its previous response) is closed (with a 408 when it sent
  nothing usable);
- ``max_connections``: a connection beyond this many open ones gets an immediate 503 and is
  closed, without waiting for its headers; uvicorn's ``limit_concurrency`` is set to match,
  so requests beyond it are also answered 503;
- ``keep_alive``: uvicorn's ``timeout_keep_alive``, seconds an idle connection is kept;
- ``max_header_bytes``: the h11 parser's ``h11_max_incomplete_event_size`` (httptools, used
  when installed, applies llhttp's own fixed limit on the header size).

The body-read deadline (``body_timeout``) lives in the app (``read_json``), where the body is
read. What it does not do: limit request rate per client (put a proxy in front for that).
"""

from __future__ import annotations

import asyncio
from typing import Any

_FULL = b'{"error":{"status":503,"message":"too many open connections; retry shortly"}}'
_SLOW = b'{"error":{"status":408,"message":"request headers not received in time"}}'


def _raw_response(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


def guarded_protocol(base: type[asyncio.Protocol], header_timeout: float, max_connections: int | None) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's h11 or httptools protocol) with a header deadline and a connection cap."""

    class GuardedProtocol(base):  # type: ignore[misc, valid-type]
        _header_timer: asyncio.TimerHandle | None = None
        _header_cycle: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if max_connections is not None and len(self.connections) > max_connections:
                transport.write(_raw_response("503 Service Unavailable", _FULL))
                transport.close()
                return
            self._arm_header_timer()

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self._header_cycle = self.cycle  # a new request replaces the cycle once its head is read
            self._header_timer = self.loop.call_later(header_timeout, self._header_deadline)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_deadline(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.cycle is not self._header_cycle:
                return  # closed, or a request head arrived in time (its response re-arms the timer)
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(_raw_response("408 Request Timeout", _SLOW))
                self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

    GuardedProtocol.__name__ = f"Guarded{base.__name__}"
    return GuardedProtocol


def uvicorn_config(app: Any, settings: Any, host: str, port: int, log_level: str) -> Any:
    """The uvicorn configuration of the reward server, with the limits of ``settings``."""
    import uvicorn
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    cap = settings.max_connections or None  # 0: no cap
    protocol = guarded_protocol(AutoHTTPProtocol, settings.header_timeout, cap)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        http=protocol,
        timeout_graceful_shutdown=int(settings.timeout) + 5,
        timeout_keep_alive=max(1, int(round(settings.keep_alive))),
        limit_concurrency=cap + 1 if cap else None,
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )


__all__ = ["guarded_protocol", "uvicorn_config"]
