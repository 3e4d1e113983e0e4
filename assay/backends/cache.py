"""A persistent, opt-in request cache: the same judge call twice costs one backend call.

:class:`RequestCache` is a SQLite file (WAL mode, so several processes can read and write
it at once). Entries are keyed on a hash of the model, the messages, the sampling
parameters and a namespace that carries the parser/prompt version, so changing a judge's
parser or prompt never serves stale answers. Only successful completions are stored;
failures are always retried.

Safe across processes and crashes: each insert is one atomic ``INSERT OR REPLACE``
statement (a crash leaves either the whole row or nothing); a busy database is waited on
for a few seconds, opening included (processes that open a new file at once race on the switch
to WAL, which SQLite does not wait on by itself). A database that cannot be opened or read (corrupt file, no permission,
locked for too long) degrades to *no cache* with one warning; the run goes on.

:class:`CachedBackend` puts a cache in front of any backend:

    >>> from assay.backends.cache import CachedBackend, RequestCache
    >>> backend = CachedBackend(inner_backend, RequestCache("judge-cache.sqlite"), namespace="pointwise/v1")  # doctest: +SKIP

Judges do this for you when their config has ``cache: path/to/cache.sqlite``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from assay.backends.base import Backend, Completion
from assay.types import Message

SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    namespace TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(model: str, messages: list[Message], params: dict[str, Any], namespace: str) -> str:
    """A stable hash of everything that determines a completion."""
    blob = json.dumps({"model": model, "messages": messages, "params": params, "namespace": namespace}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class RequestCache:
    """A SQLite file of completions. ``get``/``put`` never raise: a broken database warns once
    and the cache turns itself off."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path).expanduser()
        self.busy_timeout_s = busy_timeout_s
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self.disabled_reason: str | None = None
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._warned = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = self._open()
        except (sqlite3.Error, OSError) as error:
            self._disable(f"could not open {self.path}: {type(error).__name__}: {error}")

    def _open(self) -> sqlite3.Connection:
        """Connect, switch to WAL and create the table. Several processes opening a new file at
        once race on the switch to WAL, and SQLite answers "database is locked" there without
        waiting on its busy timeout: such an answer is retried, with growing pauses, until
        ``busy_timeout_s`` has passed (then it is raised, and the cache turns itself off)."""
        deadline = time.monotonic() + self.busy_timeout_s
        pause = 0.01
        while True:
            connection = sqlite3.connect(str(self.path), timeout=self.busy_timeout_s, check_same_thread=False, isolation_level=None)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute(SCHEMA)
                connection.execute("SELECT count(*) FROM completions LIMIT 1").fetchone()
                return connection
            except sqlite3.OperationalError as error:
                connection.close()
                busy = "locked" in str(error) or "busy" in str(error)
                if not busy or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.25)
            except BaseException:
                connection.close()
                raise

    @property
    def enabled(self) -> bool:
        return self._connection is not None

    def _disable(self, reason: str) -> None:
        self.disabled_reason = reason
        if self._connection is not None:
            try:
                self._connection.close()
            except sqlite3.Error:
                pass
        self._connection = None
        if not self._warned:
            self._warned = True
            warnings.warn(f"assay request cache disabled, running without it: {reason}", RuntimeWarning, stacklevel=3)

    def get(self, key: str) -> Completion | None:
        if self._connection is None:
            return None
        try:
            with self._lock:
                row = self._connection.execute("SELECT value FROM completions WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as error:
            self._disable(f"reading {self.path} failed: {type(error).__name__}: {error}")
            return None
        if row is None:
            self.misses += 1
            return None
        try:
            completion = Completion.from_dict(json.loads(row[0]))
        except (ValueError, KeyError, TypeError):
            self.misses += 1
            return None  # an unreadable entry is a miss; the fresh answer replaces it
        completion.cached = True
        self.hits += 1
        return completion

    def put(self, key: str, model: str, namespace: str, completion: Completion) -> None:
        if self._connection is None:
            return
        value = json.dumps(completion.to_dict(), ensure_ascii=False)
        try:
            with self._lock:
                self._connection.execute(
                    "INSERT OR REPLACE INTO completions (key, model, namespace, value, created) VALUES (?, ?, ?, ?, ?)",
                    (key, model, namespace, value, time.time()),
                )
            self.writes += 1
        except sqlite3.Error as error:
            self._disable(f"writing {self.path} failed: {type(error).__name__}: {error}")

    def __len__(self) -> int:
        if self._connection is None:
            return 0
        with self._lock:
            return int(self._connection.execute("SELECT count(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        if self._connection is not None:
            with self._lock:
                self._connection.close()
            self._connection = None


class CachedBackend:
    """Any backend behind a :class:`RequestCache`; ``namespace`` should name the prompt and
    parser version of the caller, so a changed parser never reads old answers."""

    def __init__(self, backend: Backend, cache: RequestCache, namespace: str = "") -> None:
        self.backend = backend
        self.cache = cache
        self.namespace = namespace
        self.model = backend.model

    def __repr__(self) -> str:
        return f"CachedBackend({self.backend!r}, {str(self.cache.path)!r})"

    async def complete(self, messages: list[Message], **params: Any) -> Completion:
        key = cache_key(self.model, messages, {k: v for k, v in params.items() if v is not None}, self.namespace)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        completion = await self.backend.complete(messages, **params)
        self.cache.put(key, self.model, self.namespace, completion)
        return completion
