"""The per-sample log of a benchmark run: one JSON line per scored unit, written as it is
produced, so a killed run restarts without recomputing what is done.

The log lives at ``OUTPUT/samples.jsonl`` beside ``OUTPUT/run.json``, which records the
config hash and the time spent so far (``seconds``, summed over a run and its resumptions,
updated at every flush). A run resumes from the log when the hash matches; a half-written
last line (the process was killed mid-write, even inside a multi-byte UTF-8 character) is
dropped with a note and recomputed. ``forget`` drops saved results (``--retry-failures``:
the transient ``backend``/``timeout`` failures) so that they are computed again.

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
    (``path: file.py:fn``) and the fit files it applies (``calibration: fit.json``), the benchmark, and ``extra`` (seed, options). ``None``: the
    run scores nothing itself (stored scores)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"benchmark": benchmark, **(extra or {})}, sort_keys=True).encode())
    if config is None:
        digest.update(b"stored-scores")
        return digest.hexdigest()[:16]
    digest.update(config.text.encode())
    for file in config.spec.function_files() + config.spec.calibration_files():
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
        self.torn_last_line = False
        self.restarted = False
        self.previous_seconds = 0.0
        self._opened_at = time.perf_counter()
        self._run: dict[str, Any] = {}

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
        if done and run_file.is_file():
            self._run = json.loads(run_file.read_text())
            seconds = self._run.get("seconds")
            self.previous_seconds = float(seconds) if isinstance(seconds, (int, float)) else 0.0
        if mode == "w" or previous != self.hash or not self._run:
            self._run = {"config_hash": self.hash, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), **(header or {})}
            self._write_run()
        if done:
            self._truncate_partial_line()
        self._opened_at = time.perf_counter()
        self.handle = open(self.path, mode, encoding="utf-8")
        self.reused = len(done)
        return done

    def seconds(self) -> float:
        """Time spent on this run so far: the earlier sessions' (resumed runs) plus this one's."""
        return self.previous_seconds + (time.perf_counter() - self._opened_at)

    def _write_run(self) -> None:
        assert self.folder is not None
        run_file = self.folder / "run.json"
        temporary = run_file.with_suffix(".json.tmp")
        temporary.write_text(json.dumps({**self._run, "seconds": round(self.seconds(), 2)}, indent=2))
        temporary.replace(run_file)

    def forget(self, done: dict[str, dict[str, Any]], kinds: tuple[str, ...]) -> list[str]:
        """Drop from ``done`` the saved results that failed with one of ``kinds``, so they are
        computed again (the new result is appended; the last line of a key wins on reading)."""
        dropped = [key for key, result in done.items() if isinstance(result.get("failure"), dict) and result["failure"].get("kind") in kinds]
        for key in dropped:
            del done[key]
        return dropped

    def _read(self) -> dict[str, dict[str, Any]]:
        """The saved results, read line by line as bytes: a line that is not valid UTF-8 or JSON
        is dropped (counted); a torn last line (no newline: killed mid-write, perhaps inside a
        multi-byte character) is dropped and noted on stderr, never an error that blocks resuming."""
        assert self.path is not None
        done: dict[str, dict[str, Any]] = {}
        lines = self.path.read_bytes().split(b"\n")
        tail = lines.pop() if lines else b""  # after the last newline: empty, or a torn line
        if tail.strip():
            self.torn_last_line = True
            self.dropped_lines += 1
            print(f"note: {self.path}: the last line was cut off mid-write ({len(tail)} bytes; killed?): dropped, its unit is recomputed", file=sys.stderr)
        for line in lines:
            if not line.strip():
                continue
            try:
                row = json.loads(line.decode("utf-8"))
                done[row["key"]] = row["result"]
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
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
            self._write_run()  # the time spent so far survives a kill

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
            self._write_run()
