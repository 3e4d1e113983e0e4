"""The ``math`` reward: is the response's final answer mathematically equal to the reference?

Each response is read in three steps:

1. **Extraction** (in this process, plain regexes): the last ``\\boxed{...}``, else GSM8K's
   ``#### N``, else a final ``A: N`` / ``Answer: N`` line, else a final "the answer is X"
   sentence. When none is present, math-verify's own extraction reads the whole response.
2. **Fast path** (in this process, no sympy): when the extracted answer and the reference are
   both plain numbers (``1,234``, ``-0.5``, ``$18``, ``45%``), they are compared exactly; when
   they are equal after a light LaTeX normalisation, they match. The fast path only says
   "wrong" when math-verify could not say "right" (both plain numbers, clearly different);
   everything else goes to step 3.
3. **math-verify** (``parse(gold)``, ``parse(answer)``, ``verify(gold, answer)``, gold first),
   in a pool of worker processes that this reward owns. Work goes to the workers in chunks,
   but each item has its own deadline of ``timeout_seconds``: an item that overruns is a
   ``timeout`` failure, its worker is killed and replaced, and the rest of the batch is
   scored normally. A worker that dies mid-item makes that item an ``internal`` failure.

Scores are 1.0 (equivalent) or 0.0 (not equivalent, or no answer found in the response).
A reference that is empty or that math-verify cannot parse is an ``input`` failure.

    >>> from assay.rewards.math.reward import MathReward
    >>> from assay.types import Sample
    >>> reward = MathReward()
    >>> [j.score for j in reward.score([Sample(response="9 * 2 = 18\\nA: 18", reference="18"),
    ...                                 Sample(response="so \\\\boxed{0.5}", reference="\\\\frac{1}{2}")])]
    [1.0, 1.0]
    >>> reward.close()
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from multiprocessing.connection import Connection, wait
from typing import Any

from pydantic import Field

from assay.reward import Options as BaseOptions
from assay.reward import Reward
from assay.rewards.rules.extraction import last_boxed
from assay.text import shorten
from assay.types import Judgment, Sample

__all__ = ["MathReward", "extract_math_answer", "fast_compare"]

# --- extraction -----------------------------------------------------------------------------

_HASHES = re.compile(r"####\s*([^\n]+?)\s*$", re.MULTILINE)
_A_LINE = re.compile(r"^\s*(?:\*\*)?(?:A|Answer|Final Answer)(?:\*\*)?\s*:(?:\*\*)?\s*([^\n]+?)\s*$", re.MULTILINE | re.IGNORECASE)
_ANSWER_IS = re.compile(r"the\s+(?:final\s+)?answer\s+is\s*:?\s*([^\n]+)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")

METHOD_WORDS = {
    "boxed": "the last \\boxed{}",
    "hashes": "the '#### N' marker",
    "a_line": "the final 'A: ...' line",
    "answer_is": "the final 'the answer is ...' sentence",
    "math_verify": "math-verify's own extraction from the whole response",
}


@dataclass(frozen=True)
class Extraction:
    """An answer found in a text (``answer`` is None when none was found) and how."""

    answer: str | None
    method: str  # boxed | hashes | a_line | answer_is | math_verify (nothing found by the rules)


def _clean(answer: str) -> str:
    answer = answer.strip().strip("*_` ").strip()
    answer = re.sub(r"[.。]+$", "", answer).strip()
    return answer


def extract_math_answer(text: str) -> Extraction:
    """The final answer of a solution by the rules in the module docstring (no sympy)."""
    boxed = last_boxed(text)
    if boxed is not None and boxed.strip():
        return Extraction(boxed.strip(), "boxed")
    found = _HASHES.findall(text)
    if found and _clean(found[-1]):
        return Extraction(_clean(found[-1]), "hashes")
    found = _A_LINE.findall(text)
    if found and _clean(found[-1]):
        return Extraction(_clean(found[-1]), "a_line")
    matches = list(_ANSWER_IS.finditer(text))
    if matches:
        rest = matches[-1].group(1)
        end = _SENTENCE_END.search(rest)
        value = _clean(rest[: end.start()] if end else rest)
        if value:
            return Extraction(value, "answer_is")
    return Extraction(None, "math_verify")


def extract_reference(reference: str) -> Extraction:
    """The gold answer inside a reference: its ``\\boxed{}``, ``#### N`` or ``A: N`` if it has
    one (a full reference solution), else the whole reference."""
    found = extract_math_answer(reference)
    if found.answer is not None and found.method != "answer_is":
        return found
    return Extraction(reference.strip(), "whole")


# --- fast path ------------------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"^([-+]?)(\d{1,3}(?:,\d{3})+|\d+)?(\.\d+)?$")
_TEXT_WRAP = re.compile(r"^\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}$")


@dataclass(frozen=True)
class PlainNumber:
    value: Decimal
    percent: bool
    is_integer_literal: bool


def plain_number(text: str) -> PlainNumber | None:
    """``text`` as a plain number (``1,234``, ``-0.5``, ``$18``, ``\\$18.00``, ``45\\%``), or None
    when it is anything else (fractions, expressions, units, words)."""
    s = text.strip()
    s = s.replace("\u2212", "-").replace("\\!", "").replace("{,}", ",").replace("\\,", "")
    for left, right in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
            s = s[len(left) : -len(right)].strip()
    wrapped = _TEXT_WRAP.match(s)
    if wrapped:
        s = wrapped.group(1).strip()
    s = s.rstrip(".").strip()
    percent = False
    for suffix in ("\\%", "%"):
        if s.endswith(suffix):
            s, percent = s[: -len(suffix)].strip(), True
            break
    sign = ""
    if s and s[0] in "+-":
        sign, s = s[0], s[1:].strip()
    for prefix in ("\\$", "$"):
        if s.startswith(prefix):
            s = s[len(prefix) :].strip()
            break
    s = sign + s
    match = _PLAIN_NUMBER.match(s)
    if not match or not (match.group(2) or match.group(3)):
        return None
    try:
        value = Decimal(s.replace(",", ""))
    except InvalidOperation:
        return None
    return PlainNumber(value, percent, match.group(3) is None)


_NORMALISE_DROP = ("\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\ ", "$", "\\displaystyle")


def normalise_latex(text: str) -> str:
    """A light, meaning-preserving normalisation for string equality (never for inequality)."""
    s = text
    for token in _NORMALISE_DROP:
        s = s.replace(token, "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\u2212", "-")
    s = "".join(s.split())
    return s.rstrip(".")


@dataclass(frozen=True)
class FastVerdict:
    equal: bool
    how: str  # words for the rationale


def fast_compare(gold: str, answer: str) -> FastVerdict | None:
    """Settle ``answer`` against ``gold`` without sympy when that is sound, else None.

    Equal plain numbers or equal normalised strings match. Two plain numbers that differ by
    more than math-verify's rounding could absorb (6 decimals, 15 significant digits) do not
    match. Anything in between (percentages that differ, near-equal decimals) is left to
    math-verify, so the fast path never says "wrong" where math-verify would say "right".
    """
    g, a = plain_number(gold), plain_number(answer)
    if g is not None and a is not None:
        if g.value == a.value:
            return FastVerdict(True, "numeric fast path")
        if g.percent or a.percent:
            return None  # 50% vs 0.5: math-verify decides
        diff = abs(g.value - a.value)
        scale = max(abs(g.value), abs(a.value), Decimal(1))
        if diff > Decimal("0.0000015") and diff > scale * Decimal("1e-9"):
            return FastVerdict(False, "numeric fast path")
        return None
    ng, na = normalise_latex(gold), normalise_latex(answer)
    if ng and ng == na:
        return FastVerdict(True, "equal after normalisation, fast path")
    return None


# --- the worker side ------------------------------------------------------------------------


class _ItemTimeout(BaseException):
    """Raised by the worker's own alarm. A BaseException, so math-verify's ``except
    Exception`` handlers cannot swallow it and turn a timeout into a False."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _ItemTimeout()


def _warm_up(parse: Any, verify: Any, configs: list[Any]) -> None:
    """Run math-verify once over common shapes, so the lazy imports inside sympy and the
    LaTeX parser happen at start-up rather than inside the first items' deadlines."""
    for gold, answer in (("$\\frac{1}{2}$", "\\boxed{0.5}"), ("$3$", "x = 3"), ("$\\sqrt{2}$", "2^{1/2} + 0*x"), ("$(1,2]$", "\\boxed{(1, 2]}")):
        verify(parse(gold, extraction_config=configs, parsing_timeout=None),
               parse(answer, extraction_config=configs, parsing_timeout=None), timeout_seconds=None)


def _worker_main(inbox: Connection, conn: Connection, timeout_seconds: int) -> None:
    """A pool worker: answer chunks of items one by one, each under its own alarm."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
        logging.getLogger("math_verify").setLevel(logging.ERROR)
        from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

        configs = [LatexExtractionConfig(), ExprExtractionConfig()]
        _warm_up(parse, verify, configs)
        signal.signal(signal.SIGALRM, _on_alarm)
        conn.send(("ready", os.getpid()))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, then exit
        conn.send(("error", f"{type(error).__name__}: {error}"))
        return
    gold_cache: dict[str, list[Any]] = {}

    def parse_gold(gold: str) -> list[Any]:
        cached = gold_cache.get(gold)
        if cached is not None:
            return cached
        parsed: list[Any] = []
        if "$" not in gold and "\\boxed" not in gold and "\\(" not in gold and "\\[" not in gold:
            parsed = parse(f"${gold}$", extraction_config=configs, parsing_timeout=None)
        if not parsed:
            parsed = parse(gold, extraction_config=configs, parsing_timeout=None)
        if len(gold_cache) > 4096:
            gold_cache.clear()
        gold_cache[gold] = parsed
        return parsed

    def check(gold: str, answer: str | None, method: str, full_text: str | None) -> tuple[Any, ...]:
        gold_parsed = parse_gold(gold)
        if all(isinstance(value, str) for value in gold_parsed):  # nothing, or only the raw text back
            return ("bad_gold",)
        parsed: list[Any] = []
        used = method
        if answer is not None:
            text = f"\\boxed{{{answer}}}" if method == "boxed" else answer
            parsed = parse(text, extraction_config=configs, parsing_timeout=None)
        if not parsed and full_text is not None:
            parsed = parse(full_text, extraction_config=configs, parsing_timeout=None)
            used = "math_verify"
        if not parsed:
            return ("no_answer", shorten(gold_parsed, 200))
        equal = verify(gold_parsed, parsed, timeout_seconds=None)
        return ("ok", bool(equal), shorten(gold_parsed, 200), shorten(parsed, 200), used)

    while True:
        try:
            message = inbox.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if message[0] == "stop":
            return
        for item_id, gold, answer, method, full_text in message[1]:
            started = time.monotonic()
            try:
                signal.setitimer(signal.ITIMER_REAL, timeout_seconds)
                try:
                    result = check(gold, answer, method, full_text)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except _ItemTimeout:
                result = ("timeout",)
            except Exception as error:  # noqa: BLE001 - one item's error stays that item's
                result = ("error", f"{type(error).__name__}: {shorten(error, 300)}")
            try:
                conn.send(("result", item_id, result, time.monotonic() - started))
            except (BrokenPipeError, OSError):
                return


# --- the pool -------------------------------------------------------------------------------

_GRACE_SECONDS = 0.5  # beyond the worker's own alarm, before the parent kills it
_START_SECONDS = 60.0  # how long a run waits with no worker ready before failing its items
_MAX_START_FAILURES = 3
_live_pools: weakref.WeakSet[_MathPool] = weakref.WeakSet()


def _worker_entry(read_fd: int, write_fd: int, timeout_seconds: int) -> None:
    """Where a worker process starts (``python -c``): wrap the inherited pipe ends."""
    _worker_main(Connection(read_fd, writable=False), Connection(write_fd, readable=False), timeout_seconds)


def _start_worker(timeout_seconds: int) -> tuple[subprocess.Popen, Connection, Connection]:
    """A fresh interpreter running ``_worker_entry``, with a pipe each way.

    A plain subprocess rather than ``multiprocessing``: spawn and forkserver re-import the
    caller's ``__main__``, which breaks training scripts without an ``if __name__ ==
    "__main__"`` guard, and fork is unsafe in a process with threads (torch, tokenizers)."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    code = (
        "import sys; sys.path[:0] = " + repr([p for p in sys.path if p]) + "\n"
        "from assay.rewards.math.reward import _worker_entry\n"
        f"_worker_entry({to_child_r}, {from_child_w}, {int(timeout_seconds)})"
    )
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            close_fds=True,
        )
    finally:
        os.close(to_child_r)
        os.close(from_child_w)
    return process, Connection(from_child_r, writable=False), Connection(to_child_w, readable=False)


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen
    conn: Connection  # what the worker sends
    outbox: Connection  # what we send to it
    ready: bool = False
    items: deque = field(default_factory=deque)  # item tuples sent, not yet answered
    item_started: float = 0.0

    @property
    def busy(self) -> bool:
        return bool(self.items)


class _MathPool:
    """Worker processes running math-verify, each item under a hard deadline."""

    def __init__(self, workers: int, timeout_seconds: int) -> None:
        self.size = workers
        self.timeout_seconds = timeout_seconds
        self.owner_pid = os.getpid()
        self.lock = threading.Lock()
        self.workers: list[_Worker] = []
        self.start_failures = 0
        self.last_start_error = ""
        self.closed = False
        _live_pools.add(self)

    # workers
    def _spawn(self) -> None:
        process, conn, outbox = _start_worker(self.timeout_seconds)
        self.workers.append(_Worker(process, conn, outbox))

    def _retire(self, worker: _Worker, kill: bool) -> None:
        if kill and worker.process.poll() is None:
            worker.process.kill()
        try:
            worker.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        worker.conn.close()
        worker.outbox.close()
        if worker in self.workers:
            self.workers.remove(worker)

    def _top_up(self) -> None:
        while len(self.workers) < self.size and self.start_failures < _MAX_START_FAILURES:
            self._spawn()

    def pids(self) -> list[int]:
        """The worker processes' ids (for monitoring and tests)."""
        return [w.process.pid for w in self.workers]

    def start(self, wait_ready: bool = True, timeout: float = 60.0) -> None:
        with self.lock:
            self._top_up()
            deadline = time.monotonic() + timeout
            while wait_ready and any(not w.ready for w in self.workers) and time.monotonic() < deadline:
                self._pump(deadline - time.monotonic(), {})

    # the scheduling loop
    def run(self, items: list[tuple[Any, ...]]) -> dict[Any, tuple[Any, ...]]:
        """Check ``(item_id, gold, answer, method, full_text)`` tuples; returns item_id ->
        result tuple (``ok``, ``no_answer``, ``bad_gold``, ``timeout``, ``error``, ``crash``)."""
        results: dict[Any, tuple[Any, ...]] = {}
        if not items:
            return results
        with self.lock:
            if self.closed:
                raise RuntimeError("the math worker pool is closed")
            pending = deque(items)
            chunk = max(1, min(32, len(items) // (4 * self.size) or 1))
            stalled_since: float | None = None
            while pending or any(w.busy for w in self.workers):
                self._top_up()
                if not self.workers:
                    reason = f"math-verify workers could not start: {self.last_start_error or 'unknown error'}"
                    for item in pending:
                        results[item[0]] = ("error", reason)
                    break
                now = time.monotonic()
                for worker in self.workers:
                    if worker.ready and not worker.busy and pending:
                        batch = [pending.popleft() for _ in range(min(chunk, len(pending)))]
                        worker.items.extend(batch)
                        worker.item_started = now
                        try:
                            worker.outbox.send(("chunk", batch))
                        except (BrokenPipeError, OSError):
                            pass  # noticed as a dead worker below
                deadlines = [w.item_started + self.timeout_seconds + _GRACE_SECONDS for w in self.workers if w.busy]
                wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else 1.0
                requeue = self._pump(wait_for, results)
                for item in reversed(requeue):
                    pending.appendleft(item)
                if any(w.ready for w in self.workers):
                    stalled_since = None
                elif stalled_since is None:
                    stalled_since = time.monotonic()
                elif time.monotonic() - stalled_since > _START_SECONDS:  # workers alive but never ready: bounded
                    for item in pending:
                        results[item[0]] = ("error", f"no math-verify worker became ready within {_START_SECONDS:g} s")
                    pending.clear()
                    break
                # kill workers whose current item is past its hard deadline
                now = time.monotonic()
                for worker in list(self.workers):
                    if worker.busy and now > worker.item_started + self.timeout_seconds + _GRACE_SECONDS:
                        hung = worker.items.popleft()
                        results[hung[0]] = ("timeout",)
                        for item in reversed(worker.items):
                            pending.appendleft(item)
                        worker.items.clear()
                        self._retire(worker, kill=True)
        return results

    def _pump(self, wait_for: float, results: dict[Any, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Read what the workers sent within ``wait_for`` seconds; handle dead workers.
        Returns the items to send again (those queued behind an item that killed a worker)."""
        requeue: list[tuple[Any, ...]] = []
        by_conn = {w.conn: w for w in self.workers}
        if not by_conn:
            return requeue
        dead: list[_Worker] = []
        for handle in wait(list(by_conn), timeout=wait_for):
            worker = by_conn[handle]  # type: ignore[index]
            try:
                while worker.conn.poll():
                    self._handle(worker, worker.conn.recv(), results)
            except (EOFError, OSError):
                dead.append(worker)  # the pipe closed: the worker exited or was killed
        for worker in dead:
            if worker not in self.workers:
                continue
            try:
                code = worker.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            if not worker.ready:
                self.start_failures += 1
                self.last_start_error = self.last_start_error or f"worker exited with code {code} while starting"
            if worker.items:
                crashed = worker.items.popleft()
                results[crashed[0]] = ("crash", f"the math-verify worker died (exit code {code}) on this item")
                requeue.extend(worker.items)
                worker.items.clear()
            self._retire(worker, kill=True)
        return requeue

    def _handle(self, worker: _Worker, message: tuple[Any, ...], results: dict[Any, tuple[Any, ...]]) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self.start_failures = 0
        elif kind == "error":
            self.last_start_error = message[1]
        elif kind == "result":
            _, item_id, result, _elapsed = message
            if worker.items and worker.items[0][0] == item_id:
                worker.items.popleft()
            results[item_id] = result
            worker.item_started = time.monotonic()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for worker in list(self.workers):
                try:
                    worker.outbox.send(("stop",))
                except (BrokenPipeError, OSError):
                    pass
            for worker in list(self.workers):
                try:
                    worker.process.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
                self._retire(worker, kill=True)


@atexit.register
def _close_all_pools() -> None:
    for pool in list(_live_pools):
        if pool.owner_pid == os.getpid():
            try:
                pool.close()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass


# --- the reward -----------------------------------------------------------------------------


class MathOptions(BaseOptions):
    """Options of the ``math`` reward."""

    timeout_seconds: int = Field(5, ge=1, description="hard limit per item for math-verify (whole seconds)")
    max_chars: int = Field(20000, ge=100, description="longer responses are cut to their last max_chars characters")
    workers: int | None = Field(None, ge=1, description="math-verify worker processes (default: CPU count)")
    reference_field: str = Field("reference", description="the sample field that holds the gold answer")


@dataclass
class _Prepared:
    gold: str | None = None
    gold_method: str = "whole"
    extraction: Extraction | None = None
    text: str = ""
    truncated_from: int | None = None
    judgment: Judgment | None = None


class MathReward(Reward):
    """1.0 when the response's final answer equals the reference (math-verify semantics)."""

    type_name = "math"
    Options = MathOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self.worker_count = self.options.workers or os.cpu_count() or 1  # workers=None: one per CPU
        self._pool: _MathPool | None = None
        self._pool_lock = threading.Lock()
        self._gold_cache: dict[str, tuple[str, str]] = {}
        self.stats = {"fast": 0, "math_verify": 0}

    # pool lifecycle
    def _get_pool(self) -> _MathPool:
        with self._pool_lock:
            if self._pool is None or self._pool.owner_pid != os.getpid() or self._pool.closed:
                self._pool = _MathPool(self.worker_count, self.options.timeout_seconds)
            return self._pool

    def warm_up(self) -> None:
        """Start the worker processes now and wait until they are ready (else: on first need)."""
        self._get_pool().start(wait_ready=True)

    def close(self) -> None:
        """Stop the worker processes (also done at interpreter exit)."""
        with self._pool_lock:
            if self._pool is not None and self._pool.owner_pid == os.getpid():
                self._pool.close()
            self._pool = None

    def worker_pids(self) -> list[int]:
        return self._pool.pids() if self._pool is not None else []

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # scoring
    def _reference(self, sample: Sample) -> tuple[str | None, str, Judgment | None]:
        raw = sample.get(self.options.reference_field)
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            what = "missing" if raw is None else f"a {type(raw).__name__}"
            return None, "", Judgment.fail("input", f"the reference ({self.options.reference_field!r}) is {what}; expected the gold answer as text or a number")
        text = str(raw).strip()
        if not text:
            return None, "", Judgment.fail("input", f"the reference ({self.options.reference_field!r}) is empty")
        if len(text) > self.options.max_chars:
            text = text[-self.options.max_chars :]
        cached = self._gold_cache.get(text)
        if cached is None:
            found = extract_reference(text)
            cached = (found.answer or text, found.method)
            if len(self._gold_cache) > 65536:
                self._gold_cache.clear()
            self._gold_cache[text] = cached
        return cached[0], cached[1], None

    def _prepare(self, sample: Sample) -> _Prepared:
        prepared = _Prepared()
        gold, gold_method, failure = self._reference(sample)
        if failure is not None:
            prepared.judgment = failure
            return prepared
        prepared.gold, prepared.gold_method = gold, gold_method
        text = sample.response_text
        if len(text) > self.options.max_chars:
            prepared.truncated_from = len(text)
            text = text[-self.options.max_chars :]
        prepared.text = text
        extraction = extract_math_answer(text)
        prepared.extraction = extraction
        if extraction.answer is None and not text.strip():
            prepared.judgment = self._verdict(prepared, 0.0, "the response is empty: no answer found", {"path": "none"})
            return prepared
        if extraction.answer is not None:
            verdict = fast_compare(gold, extraction.answer)  # type: ignore[arg-type]
            if verdict is not None:
                self.stats["fast"] += 1
                relation = "equals" if verdict.equal else "does not equal"
                prepared.judgment = self._verdict(
                    prepared,
                    1.0 if verdict.equal else 0.0,
                    f"extracted {extraction.answer} from {METHOD_WORDS[extraction.method]}; {relation} reference {gold} ({verdict.how})",
                    {"path": "fast"},
                )
        return prepared

    def _verdict(self, prepared: _Prepared, score: float, rationale: str, details: dict[str, Any]) -> Judgment:
        extraction = prepared.extraction
        if prepared.truncated_from is not None:
            rationale += f" [the response had {prepared.truncated_from} characters; only its last {self.options.max_chars} were read]"
        details = {
            "extracted": extraction.answer if extraction else None,
            "method": extraction.method if extraction else None,
            "reference": prepared.gold,
            "truncated": prepared.truncated_from is not None,
            **details,
        }
        return Judgment(score=score, rationale=rationale, details=details)

    def _from_worker(self, prepared: _Prepared, result: tuple[Any, ...]) -> Judgment:
        extraction = prepared.extraction
        assert extraction is not None
        kind = result[0]
        found = f"extracted {extraction.answer} from {METHOD_WORDS[extraction.method]}; " if extraction.answer is not None else ""
        if kind == "ok":
            _, equal, gold_parsed, parsed, used = result
            where = found
            if used == "math_verify" and extraction.answer is not None:
                where = f"math-verify could not parse {extraction.answer!r} from {METHOD_WORDS[extraction.method]}, so it read the whole response; "
            elif used == "math_verify":
                where = "no \\boxed{}, '#### N', 'A: N' line or 'the answer is' sentence; math-verify read the whole response; "
            verdict = "equivalent" if equal else "not equivalent"
            return self._verdict(
                prepared,
                1.0 if equal else 0.0,
                f"{where}math-verify: parsed {parsed} vs gold {gold_parsed} -> {verdict}",
                {"path": "math_verify", "parsed": parsed, "gold_parsed": gold_parsed, "method": used if used == "math_verify" else extraction.method},
            )
        if kind == "no_answer":
            looked = found or "no \\boxed{}, '#### N', 'A: N' line or 'the answer is' sentence, and "
            return self._verdict(
                prepared,
                0.0,
                f"no answer found in the response: {looked}math-verify extracted nothing from it",
                {"path": "math_verify", "gold_parsed": result[1]},
            )
        raw = (extraction.answer or prepared.text)[-2000:]
        if kind == "bad_gold":
            return Judgment.fail("input", f"math-verify could not parse the reference {prepared.gold!r} as mathematics", raw=prepared.gold)
        if kind == "timeout":
            return Judgment.fail(
                "timeout",
                f"{found}math-verify did not finish within {self.options.timeout_seconds} s; its worker was stopped and the item left unscored",
                raw=raw,
            )
        if kind == "crash":
            return Judgment.fail("internal", f"{found}{result[1]}", raw=raw)
        return Judgment.fail("internal", f"{found}math-verify raised {result[1]}", raw=raw)

    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        prepared = [self._prepare(sample) for sample in samples]
        todo = []
        for index, item in enumerate(prepared):
            if item.judgment is None:
                extraction = item.extraction
                assert extraction is not None
                todo.append((index, item.gold, extraction.answer, extraction.method, item.text))
        if todo:
            self.stats["math_verify"] += len(todo)
            results = self._get_pool().run(todo)
            for index, *_ in todo:
                result = results.get(index, ("error", "no result came back from the worker pool"))
                prepared[index].judgment = self._from_worker(prepared[index], result)
        return [item.judgment for item in prepared]  # type: ignore[misc]
