"""An assay config as the rewards of a verifiers (PrimeIntellect-ai/verifiers, prime-rl) task.

In verifiers 0.4 a task's rubric is its weighted ``@vf.reward`` methods plus the reward
functions plugged by name in its ``TaskConfig`` (``rewards: {name: {fn, weight}}``), and its
unweighted ``@vf.metric`` methods (``metrics:``); each is called with what it names (``task``:
the row's ``TaskData``, ``trace``: the rollout's ``Trace``). ``Task.score`` records rewards as
``trace.rewards`` (their weighted sum is ``trace.reward``, what prime-rl trains on) and metrics
as ``trace.metrics``. This module gives two such functions, scoring with an assay config:

- :func:`reward` -> the assay total, a float. A failed or abstained total **raises**
  :class:`AssayScoreFailed` (typed, with the rationale): verifiers then records the rollout's
  scoring error (``TaskError``) and leaves the reward unset (``None``), its own "not scored",
  instead of a number.
- :func:`metrics` -> ``{"assay/<name>": score}`` for each named reward that scored, and
  ``assay/failed`` (0 or 1): the components as separate series.

Plug them into any task's config (the config from ``ASSAY_CONFIG``)::

    --env.taskset.task.rewards.assay.fn assay.integrations.verifiers:reward
    --env.taskset.task.metrics.assay.fn assay.integrations.verifiers:metrics

or build them for a config in Python: ``make_reward(config)``, ``make_metrics(config)`` (use
inside an ``@vf.reward`` method). Metrics run before rewards in ``Task.score``; the judgment is
kept in ``trace.info["assay"]`` so the reward does not score twice. The response is the
trace's ``last_reply``; the prompt the task's ``system_prompt`` and ``prompt``; the reference
the first of the task's ``answer``, ``reference``, ``ground_truth``, ``expected_answer``
fields; every other task field is a sample field. The reverse, a verifiers task's rubric as an
assay reward, is ``type: verifiers`` (:mod:`assay.rewards.verifiers`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from assay.integrations.common import cached_reward, component_judgment, component_names, config_key, group_refusal, resolve_config
from assay.types import Judgment, Sample, outcome

REFERENCE_FIELDS = ("answer", "reference", "ground_truth", "expected_answer")
FRAMEWORK_FIELDS = ("idx", "id", "name", "description", "prompt", "system_prompt", "image", "workdir", "agent_user", "skills",
                    "network_allow", "network_block", "artifacts", "artifact_max_bytes", "timeout", "resources")
INFO_KEY = "assay"


class AssayScoreFailed(RuntimeError):
    """The assay total could not be computed: verifiers records it as the rollout's scoring error."""

    def __init__(self, judgment: Judgment) -> None:
        super().__init__(f"assay {outcome(judgment)}: {judgment.rationale}")
        self.judgment = judgment


def task_sample(task: Any, trace: Any) -> Sample:
    """The assay sample for a verifiers task row (``TaskData``) and its rollout's trace."""
    data = task.model_dump() if hasattr(task, "model_dump") else dict(task or {})
    messages: list[dict[str, Any]] = []
    if data.get("system_prompt"):
        messages.append({"role": "system", "content": data["system_prompt"]})
    prompt = data.get("prompt")
    if isinstance(prompt, str):
        messages.append({"role": "user", "content": prompt})
    elif isinstance(prompt, list):
        messages.extend({"role": m.get("role", "user"), "content": m.get("content")} for m in prompt if isinstance(m, dict))
    ref_key = next((k for k in REFERENCE_FIELDS if data.get(k) is not None), None)
    extra = {k: v for k, v in data.items() if k not in FRAMEWORK_FIELDS and k != ref_key and v is not None}
    return Sample(prompt=messages or None, response=trace.last_reply, reference=data.get(ref_key) if ref_key else None, id=data.get("id"), extra=extra)


async def _judgment(config: Any, task: Any, trace: Any) -> tuple[Judgment, list[str]]:
    reward = cached_reward(config)
    key = repr(config_key(config))
    kept = trace.info.get(INFO_KEY)
    if isinstance(kept, dict) and kept.get("config") == key and kept.get("trace") == trace.id:
        return Judgment.from_dict(kept["judgment"]), component_names(reward)
    refused = group_refusal(reward, "a verifiers reward (one trace per call)", "use a config without group normalisation, or score groups in an Env's finalize()")
    (judgment,) = [refused] if refused else await reward.ascore([task_sample(task, trace)])
    trace.info[INFO_KEY] = {"config": key, "trace": trace.id, "judgment": _plain(judgment)}
    return judgment, component_names(reward)


def _plain(judgment: Judgment) -> dict[str, Any]:
    """A judgment as JSON-able data for ``trace.info`` (traces are serialised), traceback dropped."""
    data = judgment.to_dict()
    if data.get("failure"):
        data["failure"] = {k: v for k, v in data["failure"].items() if k != "raw"}
    for part in (data.get("details") or {}).values():
        if isinstance(part, dict) and part.get("failure"):
            part["failure"] = {k: v for k, v in part["failure"].items() if k != "raw"}
    return data


def make_reward(config: Any) -> Callable[[Any, Any], Awaitable[float]]:
    """A verifiers reward function ``(task, trace) -> float`` scoring with ``config``."""

    async def assay_reward(task: Any, trace: Any) -> float:
        judgment, _ = await _judgment(config, task, trace)
        if judgment.score is None or judgment.failure is not None:
            raise AssayScoreFailed(judgment)
        return float(judgment.score)

    return assay_reward


def make_metrics(config: Any) -> Callable[[Any, Any], Awaitable[dict[str, float]]]:
    """A verifiers metric function ``(task, trace) -> {"assay/<name>": score, "assay/failed": 0|1}``."""

    async def assay_metrics(task: Any, trace: Any) -> dict[str, float]:
        judgment, names = await _judgment(config, task, trace)
        out = {"assay/failed": 0.0 if judgment.ok else 1.0}
        for name in names:
            part = component_judgment(judgment, name)
            if part is not None and part.score is not None and part.failure is None:
                out[f"assay/{name}"] = float(part.score)
        return out

    return assay_metrics


async def reward(task: Any, trace: Any) -> float:
    """The plug-in reward (``fn: assay.integrations.verifiers:reward``), config from ``ASSAY_CONFIG``."""
    return await make_reward(resolve_config(None))(task, trace)


async def metrics(task: Any, trace: Any) -> dict[str, float]:
    """The plug-in metrics (``fn: assay.integrations.verifiers:metrics``), config from ``ASSAY_CONFIG``."""
    return await make_metrics(resolve_config(None))(task, trace)


__all__ = ["reward", "metrics", "make_reward", "make_metrics", "task_sample", "AssayScoreFailed"]
