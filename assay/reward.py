"""The Reward base class, ``@reward`` for plain functions, and the Comparator base.

A reward is batch-first: ``score(samples) -> list[Judgment]`` (same length and order) and
``await ascore(samples)``. Subclasses implement one of

- ``score_one(sample)`` for rewards that look at one sample at a time (rules), or
- ``score_batch(samples)`` for rewards that batch (models), or
- ``ascore_batch(samples)`` for rewards that wait on I/O (judges over HTTP).

The base class guarantees the contract around them: the output has the input's length, an
exception in one sample becomes an ``internal`` failure of that sample only, and a sync call
works inside a running event loop (notebooks, async trainers).

Whether an object judges single samples or pairs is a property of its base class:
``Reward.pairwise`` is False, ``Comparator.pairwise`` is True. Both answer ``identity()``,
the text that decides their results (type, name, options, what they wrap), which a
benchmark run hashes to know when saved results can be reused.

    >>> from assay.reward import reward
    >>> @reward
    ... def shorter_is_better(response, reference=None):
    ...     return 1.0 / (1 + len(response)), f"{len(response)} characters"
    >>> shorter_is_better.score([Sample(response="hi")])[0].score
    0.3333333333333333
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import os
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from assay.types import Judgment, Pair, Preference, Sample

T = TypeVar("T")


class Options(BaseModel):
    """Base for a reward type's options: the keys of its entry in a config file."""

    model_config = ConfigDict(extra="forbid")


_background: tuple[int, asyncio.AbstractEventLoop] | None = None
_background_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    """One long-lived event loop in a daemon thread (per process), for sync callers: HTTP
    clients, semaphores and connections made on it are reused from one call to the next."""
    global _background
    with _background_lock:
        if _background is None or _background[0] != os.getpid():  # a forked child needs its own
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="assay-loop", daemon=True).start()
            _background = (os.getpid(), loop)
        return _background[1]


def run_sync(coro: Awaitable[T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop.

    From plain sync code the coroutine runs on assay's one background loop, so clients and
    connections persist across calls. Library code never blocks a running loop (that breaks
    notebooks and async trainers): called from inside one, it runs the coroutine on a private
    loop in a helper thread instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run_coroutine_threadsafe(coro, _background_loop()).result()  # type: ignore[arg-type]
    result: dict[str, Any] = {}

    def runner() -> None:
        try:
            result["value"] = asyncio.run(coro)  # type: ignore[arg-type]
        except BaseException as error:  # noqa: BLE001 - re-raised on the caller's thread
            result["error"] = error

    thread = threading.Thread(target=runner, name="assay-run-sync", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def internal_failure(error: BaseException, result: type[Judgment] | type[Preference] = Judgment) -> Any:
    """An unexpected exception as a typed failure (a Judgment, or a Preference for comparators),
    with the innermost frames of its traceback kept."""
    return result.fail("internal", f"{type(error).__name__}: {error}", raw="".join(traceback.format_exception(error, limit=-3)))


@runtime_checkable
class TakesSamplingOverrides(Protocol):
    """A judge that can be asked with per-item sampling parameters (``temperature``, ``seed``):
    ``await ajudge(items, overrides)``, one dict (or None) per item. assay's LLM judges do;
    ``Vote`` uses it to give every vote its own seed."""

    async def ajudge(self, items: Sequence[Any], overrides: Sequence[dict[str, Any] | None] | None = None) -> list[Any]: ...


def check_score(value: float | None, where: str) -> float | None:
    """Reject NaN and infinities: they are not scores."""
    if value is None:
        return None
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{where} returned {value}, which is not a score")
    return value


class Reward:
    """A batch-first reward. See the module docstring for which method to implement.

    A reward type declares its options once, as its ``Options`` model: the constructor takes
    them as keyword arguments, checks them exactly as a config file's entry is checked, and
    keeps them as ``self.options``. A subclass that needs more set-up (a compiled pattern, a
    loaded file) extends ``__init__(self, name=None, **options)`` and reads ``self.options``.
    """

    type_name: ClassVar[str] = ""
    Options: ClassVar[type[Options]] = Options
    pairwise: ClassVar[bool] = False  # scores samples one by one (a Comparator judges pairs)
    needs_whole_groups: ClassVar[bool] = False  # scores a sample against its group: callers must pass whole groups

    def __init__(self, name: str | None = None, **options: Any) -> None:
        self.name = name or self.type_name or type(self).__name__
        self.options = self.Options.model_validate(options)

    # --- what subclasses implement (one of) ---------------------------------------------
    def score_one(self, sample: Sample) -> Judgment:
        raise NotImplementedError

    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        return [self._guarded_one(sample) for sample in samples]

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        return await asyncio.to_thread(self._guarded_batch, samples)  # the same isolation as score()

    # --- the public contract --------------------------------------------------------------
    def score(self, samples: Sequence[Sample]) -> list[Judgment]:
        samples = list(samples)
        if not samples:
            return []
        if self._is_async_native():
            return run_sync(self.ascore(samples))
        return self._checked(samples, self._guarded_batch(samples))

    async def ascore(self, samples: Sequence[Sample]) -> list[Judgment]:
        samples = list(samples)
        if not samples:
            return []
        try:
            judgments = await self.ascore_batch(samples)
        except Exception as error:  # noqa: BLE001 - a batch error must not lose the batch
            judgments = [internal_failure(error) for _ in samples]
        return self._checked(samples, judgments)

    def __call__(self, samples: Sequence[Sample]) -> list[Judgment]:
        return self.score(samples)

    # --- guarantees -------------------------------------------------------------------------
    def _is_async_native(self) -> bool:
        return type(self).ascore_batch is not Reward.ascore_batch

    def _guarded_one(self, sample: Sample) -> Judgment:
        try:
            return self.score_one(sample)
        except Exception as error:  # noqa: BLE001 - one bad sample fails alone
            return internal_failure(error)

    def _guarded_batch(self, samples: list[Sample]) -> list[Judgment]:
        try:
            return self.score_batch(samples)
        except Exception as error:  # noqa: BLE001
            if len(samples) == 1 or type(self).score_one is Reward.score_one:
                return [internal_failure(error) for _ in samples]
            return [self._guarded_one(sample) for sample in samples]

    def _checked(self, samples: list[Sample], judgments: list[Judgment]) -> list[Judgment]:
        """One judgment per sample, and no NaN or infinity passed off as a score (whichever
        reward computed it: a model's NaN logits fail that sample, typed ``internal``)."""
        if len(judgments) != len(samples):
            raise RuntimeError(f"reward {self.name!r} returned {len(judgments)} judgments for {len(samples)} samples")
        return [
            Judgment.fail("internal", f"{self.name} computed the score {j.score}, which is not a score ({j.rationale})", **j.meta)
            if j.score is not None and not math.isfinite(j.score) else j
            for j in judgments
        ]

    def identity(self) -> str:
        """What decides this reward's scores, for a benchmark run's resume hash: its type, name
        and options, then whatever ``wrapped()`` holds. Two rewards whose identities differ
        never share a run's saved results."""
        return identity_of(self)

    def wrapped(self) -> list[Reward | Comparator]:
        """The rewards or comparators this one scores with (a wrapper's inner judge); none by default."""
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def identity_of(judge: Reward | Comparator, *extra: str) -> str:
    """``type|name|options|extra...|identities of what it wraps``: the shared shape of ``identity()``."""
    parts = [type(judge).__qualname__, str(judge.name), judge.options.model_dump_json(), *extra]
    parts += [inner.identity() for inner in judge.wrapped() if inner is not judge]
    return "|".join(parts)


class FunctionReward(Reward):
    """A plain function ``f(response, reference, **fields) -> float | (float, str)`` as a reward.

    The function is called with the response text, the reference, and those other fields of
    the sample that it names in its signature (all of them if it takes ``**kwargs``). It may
    return a float, a ``(float, rationale)`` pair, None (abstain: does not apply), or a
    Judgment. The object stays callable as the original function.
    """

    type_name = "function"

    def __init__(self, fn: Callable[..., Any], name: str | None = None, **options: Any) -> None:
        super().__init__(name or getattr(fn, "__name__", "function"), **options)
        self.fn = fn
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]
        parameters = inspect.signature(fn).parameters
        self._takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        self._names = [n for n, p in parameters.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self.fn(*args, **kwargs)

    def identity(self) -> str:
        """Type, name, options and the function's source (without source to compare, a unique
        value: such a reward never resumes from another run)."""
        try:
            source = inspect.getsource(self.fn)
        except (OSError, TypeError):
            source = f"{id(self.fn)}:{time.time_ns()}"
        return identity_of(self, source)

    def score_one(self, sample: Sample) -> Judgment:
        fields = {**sample.fields(), "prompt": sample.prompt_text, "response": sample.response_text}  # texts, chat or not
        fields["reference"] = sample.reference
        if not self._takes_all:
            fields = {k: v for k, v in fields.items() if k in self._names}
        return as_judgment(self.fn(**fields), self.name)


def as_judgment(value: Any, where: str) -> Judgment:
    """Read what a user function returned: a float, (float, rationale), None, or a Judgment."""
    if isinstance(value, Judgment):
        return value
    if value is None:
        return Judgment(score=None, rationale=f"{where} abstained (returned None)")
    if isinstance(value, tuple) and len(value) == 2:
        score, rationale = value
        return Judgment(score=check_score(score, where), rationale=str(rationale))
    if isinstance(value, bool) or isinstance(value, (int, float)):
        score = check_score(value, where)
        return Judgment(score=score, rationale=f"{where} returned {score:g}")
    raise TypeError(f"{where} returned {type(value).__name__}; expected a float, (float, str), None or a Judgment")


def reward(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Turn a plain function into a batch-first Reward; use as ``@reward`` or ``@reward(name=...)``."""
    if fn is None:
        return lambda f: FunctionReward(f, name=name)
    return FunctionReward(fn, name=name)


class Comparator:
    """A pairwise judge: ``compare(pairs) -> list[Preference]``, same length and order.

    Implement ``acompare_batch`` (I/O-bound judges) or ``compare_batch``. Options work as
    for :class:`Reward`: declared once in ``Options``, checked, kept as ``self.options``.
    An exception while comparing fails the batch's pairs, typed ``internal``, with the
    traceback's innermost frames kept in ``failure.raw`` (as for rewards).
    """

    type_name: ClassVar[str] = ""
    Options: ClassVar[type[Options]] = Options
    pairwise: ClassVar[bool] = True

    def __init__(self, name: str | None = None, **options: Any) -> None:
        self.name = name or self.type_name or type(self).__name__
        self.options = self.Options.model_validate(options)

    def compare_batch(self, pairs: list[Pair]) -> list[Preference]:
        return run_sync(self.acompare_batch(pairs))

    async def acompare_batch(self, pairs: list[Pair]) -> list[Preference]:
        if type(self).compare_batch is Comparator.compare_batch:  # neither implemented: say so, do not loop
            raise NotImplementedError(f"{type(self).__name__} implements neither compare_batch nor acompare_batch")
        return await asyncio.to_thread(self.compare_batch, pairs)

    def compare(self, pairs: Sequence[Pair]) -> list[Preference]:
        pairs = list(pairs)
        if not pairs:
            return []
        try:
            preferences = self.compare_batch(pairs)
        except Exception as error:  # noqa: BLE001 - a batch error must not lose the batch
            preferences = [internal_failure(error, Preference) for _ in pairs]
        return self._checked(pairs, preferences)

    async def acompare(self, pairs: Sequence[Pair]) -> list[Preference]:
        pairs = list(pairs)
        if not pairs:
            return []
        try:
            preferences = await self.acompare_batch(pairs)
        except Exception as error:  # noqa: BLE001
            preferences = [internal_failure(error, Preference) for _ in pairs]
        return self._checked(pairs, preferences)

    def _checked(self, pairs: list[Pair], preferences: list[Preference]) -> list[Preference]:
        if len(preferences) != len(pairs):
            raise RuntimeError(f"comparator {self.name!r} returned {len(preferences)} preferences for {len(pairs)} pairs")
        return preferences

    def identity(self) -> str:
        """What decides this comparator's verdicts (see ``Reward.identity``)."""
        return identity_of(self)

    def wrapped(self) -> list[Reward | Comparator]:
        """The rewards or comparators this one judges with; none by default."""
        return []


class ScoreComparator(Comparator):
    """Any pointwise reward as a comparator: the higher score wins; equal scores tie;
    a failed score makes the comparison fail."""

    def __init__(self, reward: Reward) -> None:
        super().__init__(reward.name)
        self.reward = reward

    def wrapped(self) -> list[Reward | Comparator]:
        return [self.reward]

    async def acompare_batch(self, pairs: list[Pair]) -> list[Preference]:
        samples = [p.sample_a() for p in pairs] + [p.sample_b() for p in pairs]
        judgments = await self.reward.ascore(samples)
        n = len(pairs)
        return [preference_from_scores(judgments[i], judgments[n + i]) for i in range(n)]

    def compare_batch(self, pairs: list[Pair]) -> list[Preference]:
        samples = [p.sample_a() for p in pairs] + [p.sample_b() for p in pairs]
        judgments = self.reward.score(samples)
        n = len(pairs)
        return [preference_from_scores(judgments[i], judgments[n + i]) for i in range(n)]


def preference_from_scores(a: Judgment, b: Judgment) -> Preference:
    """Decide a pair from two pointwise judgments; a failure on either side fails the pair."""
    meta = {"score_a": a.score, "score_b": b.score}
    for side, judgment in (("a", a), ("b", b)):
        if not judgment.ok:
            kind = judgment.failure.kind if judgment.failure else "internal"
            return Preference.fail(kind, f"response {side} could not be scored: {judgment.rationale}", **meta)
    assert a.score is not None and b.score is not None
    winner = "a" if a.score > b.score else "b" if b.score > a.score else "tie"
    return Preference(winner=winner, rationale=f"score a={a.score:g}, score b={b.score:g}", meta=meta)
