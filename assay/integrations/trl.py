"""Assay rewards as TRL reward functions (GRPOTrainer, RLOOTrainer), rationales included.

``reward_funcs(config)`` returns ``(funcs, weights)``: one callable per named reward of the
config, so TRL logs each one (``rewards/<name>/mean``), and the weights from the config,
for ``GRPOConfig(reward_weights=weights)``::

    from trl import GRPOConfig, GRPOTrainer
    from assay.integrations.trl import reward_funcs

    funcs, weights = reward_funcs("rewards.yaml")            # or a dict
    trainer = GRPOTrainer(model=..., reward_funcs=funcs, train_dataset=dataset,
                          args=GRPOConfig(..., reward_weights=weights))

Each callable has TRL's shape: keyword arguments ``prompts``, ``completions``,
``completion_ids``, every dataset column (lists aligned with the completions),
``trainer_state``, ``log_extra``, ``log_metric``, ``**kwargs``; it returns one float or
``None`` per completion (``None`` = this reward failed or does not apply; TRL reads it as
NaN and leaves it out of the sum: a failure is never turned into 0). Completions may be
strings or chat messages (the last assistant message is scored). The gold answer is read
from the dataset column named by ``reference_column``, else the first present of
``reference``, ``solution``, ``answer``, ``ground_truth``, ``label``.

How it works: the first callable called for a batch scores the whole config on it (the
components run concurrently), and the others read that result from a small per-process
cache keyed by the batch's content and step, so nothing is scored twice. Each callable
reports its component's term as the composed reward counts it (``CompositeReward.gated_scores``
and ``CompositeReward.weight``: after the config's ``only_if`` (positive-only) rule, and with
a ``schedule``'s weight applied here, its TRL weight being 1.0 since TRL's weights are fixed). Gates and group normalisation act on the total: for those, use
``mode="total"``, which returns a single callable (named ``assay_total``) giving the
config's total exactly as ``assay score`` does.

A process reward (``prm``, ``step_judge``, ``process``) gives TRL its aggregate (GRPO takes one
scalar per completion); its step scores are logged beside it: ``step_scores/<name>`` per
completion through ``log_extra`` and ``assay/<name>/first_error_rate`` through ``log_metric``.

``trainer_state.global_step`` is forwarded to the composed reward's ``step`` (and to any
``remote`` component, which sends it to its server) so weight schedules follow training.
When TRL passes ``log_extra``, each callable logs its rationales as the column
``rationale/<name>`` of TRL's completions table (the first one also logs
``rationale/total``); with ``log_metric`` it logs, per component, ``assay/<name>/mean`` (the
mean of the scores it computed), ``assay/<name>/failed`` (the fraction of the batch that
failed) and ``assay/<name>/failures`` (how many), and ``assay/total/failed``. A ``remote``
component's server components are series of their own, ``<name>/<server component>``
(metrics and rationale columns). ``mode="total"`` logs the same series for every component.
The callables are instances of module-level classes holding only the config (a path or a
dict) and names, so they pickle (TRL's async trainer runs reward
functions in a child process); the reward is loaded lazily, once per process.
``async_reward_funcs`` gives the same callables with ``async def __call__``, which TRL runs
concurrently with its other async reward functions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

from assay.compose.composite import total_level_steps
from assay.integrations.common import cached_reward, component_paths, config_key, judgment_at, labelled, read_once, set_step, summarize
from assay.rewards.process.steps import step_scores_of
from assay.types import Judgment, Sample, prompt_text

REFERENCE_COLUMNS = ("reference", "solution", "answer", "ground_truth", "label")
TRAINER_KWARGS = {"trainer_state", "log_extra", "log_metric", "environments", "prompts", "completions", "completion_ids"}
Config = str | os.PathLike[str] | dict[str, Any]


# --- one scoring pass per batch, shared by the callables of a config ------------------------
_BATCHES: OrderedDict[Any, concurrent.futures.Future[list[Judgment]]] = OrderedDict()
_BATCH_LOCK = threading.Lock()
_BATCH_CACHE_SIZE = 8


def _fingerprint(samples: Sequence[Sample]) -> str:
    digest = hashlib.sha1()
    for s in samples:
        digest.update(json.dumps([s.prompt_text, s.response_text, s.reference], default=str).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _claim(key: Any) -> tuple[concurrent.futures.Future[list[Judgment]], bool]:
    """The future holding this batch's judgments, and whether the caller must compute it."""
    with _BATCH_LOCK:
        future = _BATCHES.get(key)
        if future is not None:
            _BATCHES.move_to_end(key)
            return future, False
        future = concurrent.futures.Future()
        _BATCHES[key] = future
        while len(_BATCHES) > _BATCH_CACHE_SIZE:
            _BATCHES.popitem(last=False)
        return future, True


def _forget(key: Any) -> None:
    with _BATCH_LOCK:
        _BATCHES.pop(key, None)


def score_batch(config: Config, samples: list[Sample], step: int | None = None) -> list[Judgment]:
    """The config's judgments for a batch, computed once per (config, step, batch content)."""
    reward = cached_reward(config)
    key = (config_key(config), step, _fingerprint(samples))
    future, owner = _claim(key)
    if owner:
        try:
            set_step(reward, step)
            future.set_result(reward.score(samples))
        except BaseException as error:
            future.set_exception(error)
            _forget(key)
            raise
    return future.result()


async def ascore_batch(config: Config, samples: list[Sample], step: int | None = None) -> list[Judgment]:
    """``score_batch`` for async callers: concurrent callers of one batch await one pass."""
    reward = await asyncio.to_thread(cached_reward, config)  # a first load may read a model
    key = (config_key(config), step, _fingerprint(samples))
    future, owner = _claim(key)
    if owner:
        try:
            set_step(reward, step)
            future.set_result(await reward.ascore(samples))
        except BaseException as error:
            future.set_exception(error)
            _forget(key)
            raise
    return await asyncio.wrap_future(future)


# --- TRL's arguments as Samples --------------------------------------------------------------
def build_samples(
    prompts: Sequence[Any] | None,
    completions: Sequence[Any],
    columns: dict[str, Any],
    reference_column: str | None = None,
) -> list[Sample]:
    """One Sample per completion: prompt, response, the gold answer from a dataset column,
    the group (completions of the same prompt), and every other column as an extra."""
    n = len(completions)
    aligned = {k: v for k, v in columns.items() if k not in TRAINER_KWARGS and isinstance(v, (list, tuple)) and len(v) == n}
    if reference_column is not None:
        if reference_column not in aligned:
            raise ValueError(
                f"reference column {reference_column!r} is not among the dataset columns TRL passed "
                f"({', '.join(sorted(aligned)) or 'none'})"
            )
        ref_col: str | None = reference_column
    else:
        ref_col = next((c for c in REFERENCE_COLUMNS if c in aligned), None)
    prompts = list(prompts) if prompts is not None else [None] * n
    group_of: dict[str, int] = {}
    samples = []
    for i in range(n):
        key = prompt_text(prompts[i])
        group = group_of.setdefault(key, len(group_of))
        named: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for column, values in aligned.items():
            if column == ref_col:
                continue
            if column in ("id", "steps"):
                named[column] = values[i]
            else:
                extra[column] = values[i]
        samples.append(
            Sample(
                prompt=prompts[i],
                response=completions[i],
                reference=aligned[ref_col][i] if ref_col else None,
                id=named.get("id", i),
                group=group,
                steps=named.get("steps"),
                extra=extra,
            )
        )
    return samples


def _step_of(kwargs: dict[str, Any]) -> int | None:
    state = kwargs.get("trainer_state")
    step = getattr(state, "global_step", None)
    return int(step) if step is not None else None


def _labelled(judgment: Judgment | None) -> str:
    return "[missing] no judgment" if judgment is None else labelled(judgment)


def _log_series(judgments: list[Judgment], paths: dict[str, tuple[str, ...]], log_extra: Any, log_metric: Any, columns: bool = True) -> None:
    """Each component series as metrics of its own: ``assay/<name>/mean`` (the mean of the
    scores it computed in this batch; not logged when it computed none), ``assay/<name>/failed``
    (the fraction that failed) and ``assay/<name>/failures`` (how many); with ``columns``,
    its rationales as the completions-table column ``rationale/<name>``."""
    if not judgments:
        return
    for name, summary in summarize(judgments, paths).items():
        if callable(log_metric):
            if summary.mean is not None:
                log_metric(f"assay/{name}/mean", summary.mean)
            log_metric(f"assay/{name}/failed", summary.failures / len(judgments))
            log_metric(f"assay/{name}/failures", float(summary.failures))
        if columns and callable(log_extra):
            log_extra(f"rationale/{name}", [_labelled(judgment_at(j, paths[name])) for j in judgments])


def _log_step_scores(name: str, judgments: list[Judgment], log_extra: Any, log_metric: Any) -> bool:
    """A process reward's step scores, logged beside its aggregate (which is what TRL's GRPO
    trains on: one scalar per completion): ``step_scores/<name>`` per completion ("1, 0, -";
    "-" a step the reward abstained on) and ``assay/<name>/first_error_rate``. False when the
    component gives no step scores."""
    components = [j.details.get(name) for j in judgments]
    per_sample = [step_scores_of(c) if isinstance(c, Judgment) else None for c in components]
    if all(s is None for s in per_sample):
        return False
    if callable(log_extra):
        log_extra(f"step_scores/{name}", ["" if s is None else ", ".join("-" if v is None else f"{v:.3g}" for v in s) for s in per_sample])
    if callable(log_metric) and judgments:
        errors = [isinstance(c, Judgment) and isinstance(c.details.get("first_error"), int) and c.details["first_error"] >= 0 for c in components]
        log_metric(f"assay/{name}/first_error_rate", sum(errors) / len(judgments))
    return True


# --- the callables -----------------------------------------------------------------------------
class AssayReward:
    """One named reward of a config, as a TRL reward function (sync). Picklable."""

    def __init__(self, config: Config, name: str, reference_column: str | None = None, log_total: bool = False) -> None:
        self.config = os.fspath(config) if isinstance(config, os.PathLike) else config
        self.name = name
        self.__name__ = name  # TRL's metric name
        self.reference_column = reference_column
        self.log_total = log_total

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), completion_ids: Any = None, **kwargs: Any) -> list[float | None]:
        samples = build_samples(prompts, completions, kwargs, self.reference_column)
        step = _step_of(kwargs)
        return self._report(score_batch(self.config, samples, step), step, kwargs)

    # what this callable reports from the batch's judgments
    def _values(self, judgments: list[Judgment], step: int | None) -> tuple[list[float | None], list[str]]:
        reward = cached_reward(self.config)  # the composite: its terms are read from it, not re-derived here
        scheduled = reward.spec.rewards[self.name].schedule is not None
        scores: list[float | None] = []
        rationales: list[str] = []
        for judgment in judgments:
            component = judgment.details.get(self.name)
            component = component if isinstance(component, Judgment) else None
            rationale = _labelled(component)
            if judgment.failure is not None:
                # the config's total failed (on_failure: fail): every term of this sample says
                # None, or TRL would sum the others and train on a partial total
                scores.append(None)
                rationales.append(f"{rationale} (not counted: {_labelled(judgment)})")
                continue
            gated, notes = reward.gated_scores({n: j for n, j in judgment.details.items() if isinstance(j, Judgment)})
            score = gated.get(self.name)
            if self.name in notes:
                rationale += f" ({notes[self.name]})"
            if scheduled and score is not None:
                w, _ = reward.weight(self.name, step or 0)
                score = score * w
                rationale += f" (scheduled weight {w:.4g} at step {step or 0} applied)"
            scores.append(score)
            rationales.append(rationale)
        return scores, rationales

    def _report(self, judgments: list[Judgment], step: int | None, kwargs: dict[str, Any]) -> list[float | None]:
        scores, rationales = self._values(judgments, step)
        log_extra = kwargs.get("log_extra")
        log_metric = kwargs.get("log_metric")
        _log_step_scores(self.name, judgments, log_extra, log_metric)
        if callable(log_extra):
            log_extra(f"rationale/{self.name}", rationales)
            if self.log_total:
                log_extra("rationale/total", [_labelled(j) for j in judgments])
        # this component's series (and, for a remote one, its server's components)
        mine = {n: p for n, p in component_paths(cached_reward(self.config)).items() if p[0] == self.name}
        _log_series(judgments, {n: p for n, p in mine.items() if len(p) == 1}, log_extra, log_metric, columns=False)
        _log_series(judgments, {n: p for n, p in mine.items() if len(p) > 1}, log_extra, log_metric)
        if callable(log_metric) and judgments and self.log_total:
            log_metric("assay/total/failed", sum(1 for j in judgments if j.failure) / len(judgments))
        return scores


class AssayTotal(AssayReward):
    """The config's total (gates, failure policy and group normalisation included), as one
    TRL reward function named ``assay_total``."""

    def __init__(self, config: Config, reference_column: str | None = None) -> None:
        super().__init__(config, "assay_total", reference_column, log_total=False)

    def _values(self, judgments: list[Judgment], step: int | None) -> tuple[list[float | None], list[str]]:
        return [j.score if j.ok else None for j in judgments], [_labelled(j) for j in judgments]

    def _report(self, judgments: list[Judgment], step: int | None, kwargs: dict[str, Any]) -> list[float | None]:
        scores, rationales = self._values(judgments, step)
        log_extra, log_metric = kwargs.get("log_extra"), kwargs.get("log_metric")
        if callable(log_extra):
            log_extra("rationale/total", rationales)
        _log_series(judgments, component_paths(cached_reward(self.config)), log_extra, log_metric)
        if callable(log_metric) and judgments:
            log_metric("assay/total/failed", sum(1 for j in judgments if j.failure) / len(judgments))
        return scores


class AsyncAssayReward(AssayReward):
    """``AssayReward`` with ``async def __call__`` (TRL runs async reward functions concurrently)."""

    async def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), completion_ids: Any = None, **kwargs: Any) -> list[float | None]:  # type: ignore[override]
        samples = build_samples(prompts, completions, kwargs, self.reference_column)
        step = _step_of(kwargs)
        return self._report(await ascore_batch(self.config, samples, step), step, kwargs)


class AsyncAssayTotal(AssayTotal):
    """``AssayTotal`` with ``async def __call__``."""

    async def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), completion_ids: Any = None, **kwargs: Any) -> list[float | None]:  # type: ignore[override]
        samples = build_samples(prompts, completions, kwargs, self.reference_column)
        step = _step_of(kwargs)
        return self._report(await ascore_batch(self.config, samples, step), step, kwargs)


def reward_funcs(
    config: Config,
    reference_column: str | None = None,
    mode: Literal["components", "total"] = "components",
    asynchronous: bool = False,
) -> tuple[list[AssayReward], list[float]]:
    """``(funcs, weights)`` for ``GRPOTrainer(reward_funcs=funcs)`` and ``GRPOConfig(reward_weights=weights)``.

    ``mode="components"``: one callable per named reward, weights from the config (1.0 for a
    scheduled reward, whose schedule is applied by its callable). ``mode="total"``: one
    callable giving the config's total, weight 1.0.
    """
    spec = read_once(config).spec  # validate now, with a clear error, before training starts (the reward is built from it later)
    if mode == "total":
        return [(AsyncAssayTotal if asynchronous else AssayTotal)(config, reference_column)], [1.0]
    if mode != "components":
        raise ValueError(f"mode must be 'components' or 'total', got {mode!r}")
    unsupported = ", ".join(total_level_steps(spec))
    if unsupported:
        raise ValueError(
            f"this config's {unsupported} act on the total, which TRL's weighted sum of separate reward "
            "functions cannot reproduce; use reward_funcs(config, mode='total')"
        )
    cls = AsyncAssayReward if asynchronous else AssayReward
    funcs = [cls(config, name, reference_column, log_total=(i == 0)) for i, name in enumerate(spec.rewards)]
    weights = [1.0 if entry.schedule else entry.weight for entry in spec.rewards.values()]
    return funcs, weights


def async_reward_funcs(config: Config, reference_column: str | None = None, mode: Literal["components", "total"] = "components") -> tuple[list[AssayReward], list[float]]:
    """``reward_funcs`` with async callables."""
    return reward_funcs(config, reference_column, mode, asynchronous=True)


__all__ = ["reward_funcs", "async_reward_funcs", "AssayReward", "AssayTotal", "build_samples", "score_batch", "ascore_batch"]
