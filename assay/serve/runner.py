"""Run the reward server in a background thread of this process (notebooks, tests, a
trainer that wants its reward server beside it), on a free port when ``port=0``.

    >>> from assay.serve.runner import ServerThread
    >>> with ServerThread({"rewards": {"em": {"type": "exact_match"}}}) as server:   # doctest: +SKIP
    ...     httpx.post(server.url + "/v1/score", json={"samples": [{"response": "4", "reference": "4"}]})

Leaving the ``with`` block stops it the way SIGTERM stops ``assay serve``: no new
connections, accepted requests answered, then the batchers drain.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from assay.serve.app import RewardService, Settings, build_app
from assay.serve.connections import uvicorn_config


class ServerThread:
    """uvicorn serving ``build_app(config, settings)`` on ``host:port`` in a daemon thread."""

    def __init__(
        self,
        config: str | os.PathLike[str] | dict[str, Any] | RewardService,
        settings: Settings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        import uvicorn

        self.app = build_app(config, settings)
        self.service: RewardService = self.app.state.service
        self.server = uvicorn.Server(uvicorn_config(self.app, settings or self.service.settings, host, port, log_level))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign] # not the main thread
        self.thread = threading.Thread(target=self.server.run, name="assay-serve", daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the reward server stopped while starting (see the log above)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the reward server did not start within {timeout:g} s")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
