"""The per-sample log of a benchmark run: one JSON line per scored unit, written as it is
produced, so a killed run restarts without recomputing what is done.

The log lives at ``OUTPUT/samples.jsonl`` beside ``OUTPUT/run.json``, which records the
config hash. A run resumes from the log when the hash matches; a half-written last line
(the process was killed mid-write) is ignored and recomputed.

    >>> log = WorkLog(Path("runs/x"), config_hash="abc")     # doctest: +SKIP
    >>> done = log.open(resume=None)                          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from assay.spec import LoadedConfig


def config_hash(config: LoadedConfig | None, benchmark: str, extra: dict[str, Any] | None = None) -> str:
    """A hash of what decides the scores: the text of the config that was read and built (a
    file's text; a dict's canonical JSON), any user ``.py`` files its rewards name
    (``path: file.py:fn``), the benchmark, and ``extra`` (seed, options). ``None``: the
    run scores nothing itself (stored scores)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"benchmark": benchmark, **(extra or {})}, sort_keys=True).encode())
    if config is None:
        digest.update(b"stored-scores")
        return digest.hexdigest()[:16]
    digest.update(config.text.encode())
    for file in config.spec.function_files():
        for candidate in (config.base_dir / file, Path.cwd() / file, Path(file)):
            if candidate.is_file():
                digest.update(candidate.read_bytes())
                break
    return digest.hexdigest()[:16]


class ConfigChanged(RuntimeError):
    """--resume was asked for but the log was written under another config."""


class WorkLog:
    def __init__(self, folder: Path | None, config_hash: str) -> None:
        self.folder = folder
        self.hash = config_hash
        self.handle: Any = None
        self.reused = 0
        self.dropped_lines = 0
        self.restarted = False

    @property
    def path(self) -> Path | None:
        return self.folder / "samples.jsonl" if self.folder else None

    def open(self, resume: bool | None = None, header: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Open the log for appending and return what it already holds (key -> result).
        ``resume`` None: resume when the hash matches, else start over; True: resume or fail
        with ConfigChanged; False: always start over."""
        if self.folder is None:
            return {}
        self.folder.mkdir(parents=True, exist_ok=True)
        run_file = self.folder / "run.json"
        done: dict[str, dict[str, Any]] = {}
        previous = json.loads(run_file.read_text()).get("config_hash") if run_file.is_file() else None
        assert self.path is not None
        if self.path.is_file() and resume is not False:
            if previous != self.hash:
                if resume:
                    raise ConfigChanged(
                        f"{self.path} was written under config hash {previous}, this run's is {self.hash}: "
                        "the config (or its function file) changed; drop --resume to start over"
                    )
                print(f"note: {self.path} was written under another config (hash {previous}); starting over", file=sys.stderr)
                self.restarted = True
            else:
                done = self._read()
        mode = "a" if done else "w"
        if mode == "w" or previous != self.hash:
            run_file.write_text(json.dumps({"config_hash": self.hash, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), **(header or {})}, indent=2))
        if done:
            self._truncate_partial_line()
        self.handle = open(self.path, mode, encoding="utf-8")
        self.reused = len(done)
        return done

    def _read(self) -> dict[str, dict[str, Any]]:
        assert self.path is not None
        done: dict[str, dict[str, Any]] = {}
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                    done[row["key"]] = row["result"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    self.dropped_lines += 1
        return done

    def _truncate_partial_line(self) -> None:
        """Drop a half-written last line so appended lines start on a fresh line."""
        assert self.path is not None
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.path.write_bytes(data[: data.rfind(b"\n") + 1])

    def write(self, key: str, result: dict[str, Any]) -> None:
        if self.handle is not None:
            self.handle.write(json.dumps({"key": key, "result": result}, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        if self.handle is not None:
            self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
