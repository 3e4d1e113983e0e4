"""``verifiers``: the rubric of a verifiers (PrimeIntellect-ai/verifiers, prime-rl) task.

Why: environments written for verifiers / prime-rl grade with a task's weighted ``@vf.reward``
methods and plugged reward functions (the verifiers 0.4 rubric). This reward runs that rubric
with verifiers' own ``Task.score`` on a sample, so those rewards compose with assay's.

Each sample becomes the task's row (its ``TaskData`` type, from the sample's prompt and
fields; the reference as the field named by ``reference_field``) and a trace whose last
assistant message is the response; ``Task.score`` records the rewards; the score is
``trace.reward`` (their weighted sum, what prime-rl trains on), each recorded reward is a
detail (its unweighted score and weight), and the metrics are kept in ``meta``.

    rewards:
      rubric: {type: verifiers, task: "my_env.tasks:MathTask"}                 # its @vf.reward methods
      plugged: {type: verifiers, rewards: {correct: {fn: "my_env.rubric:correct", weight: 1.0}}}

What comes back, and what it becomes: the rubric's weighted sum -> the score; a reward that
raises (verifiers' ``TaskError``) -> ``backend``, with verifiers' message; a reward left
unscored -> ``backend``; a sample that does not fit the task's data type -> ``input``. Rewards
that need a runtime (a sandbox: a ``runtime`` parameter without a default) cannot run here and
are refused when the reward is built. Needs verifiers (``scripts/setup.sh all`` installs it
without its dependencies, beside what its modules import).
"""

from __future__ import annotations

import importlib
import inspect
import math
from typing import Any, ClassVar

from pydantic import Field, model_validator

from assay.reward import Options as BaseOptions
from assay.reward import Reward
from assay.rewards.function import import_function
from assay.types import Judgment, Sample


def _messages(prompt: Any) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [m for m in prompt or [] if isinstance(m, dict)]


class VerifiersReward(Reward):
    """A verifiers task's rubric on each sample; see the module docstring."""

    type_name: ClassVar[str] = "verifiers"

    class Options(BaseOptions):
        task: str | None = None  # a vf.Task subclass, "module:Class" or "file.py:Class" (default: vf.Task, for plugged rewards only)
        rewards: dict[str, dict[str, Any]] = Field(default_factory=dict)  # plugged reward functions, as TaskConfig.rewards: {name: {fn, weight}}
        metrics: dict[str, dict[str, Any]] = Field(default_factory=dict)  # plugged metric functions, as TaskConfig.metrics
        task_config: dict[str, Any] = Field(default_factory=dict)  # other TaskConfig fields of the task's config type
        reference_field: str = "answer"  # the TaskData field that receives the sample's reference

        @model_validator(mode="after")
        def _something(self) -> VerifiersReward.Options:
            if self.task is None and not self.rewards:
                raise ValueError("give a task (a vf.Task subclass with @vf.reward methods) or plugged rewards")
            return self

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        try:
            vf = importlib.import_module("verifiers.v1")
        except ImportError as error:
            raise ImportError(f"type: verifiers needs verifiers >= 0.4 ({error}); see docs/trainers/verifiers.md for installing it") from None
        try:
            self.task_class = import_function(self.options.task) if self.options.task else vf.Task
        except (ValueError, FileNotFoundError, AttributeError, ImportError, TypeError) as error:
            raise ValueError(f"task: cannot load {self.options.task!r}: {error}") from None
        if not (isinstance(self.task_class, type) and issubclass(self.task_class, vf.Task)):
            raise ValueError(f"task: {self.options.task} is not a verifiers Task class")
        fields = {**self.options.task_config, "rewards": self.options.rewards, "metrics": self.options.metrics}
        self.task_config = self.task_class.config_type().model_validate(fields)
        self.data_type = self.task_class.data_type()
        probe = self.task_class(self.data_type.model_construct(), self.task_config)
        needs_runtime = [fn.__name__ for fn in probe.hooks("reward") + probe.hooks("metric") if self._needs_runtime(fn)]
        if needs_runtime:
            raise ValueError(f"{', '.join(needs_runtime)} need a verifiers runtime (a sandbox), which this reward does not provide")
        if not probe.hooks("reward"):
            raise ValueError(f"{self.task_class.__name__} has no @vf.reward methods and no rewards are plugged: nothing would score")

    @staticmethod
    def _needs_runtime(fn: Any) -> bool:
        param = inspect.signature(fn).parameters.get("runtime")
        return param is not None and param.default is inspect.Parameter.empty

    def _trace(self, data: Any, sample: Sample) -> Any:
        vf = importlib.import_module("verifiers.v1")
        from verifiers.v1.trace import AgentInfo, Trace, TraceTask

        nodes = []
        for message in _messages(sample.prompt):
            kind = {"system": vf.SystemMessage, "assistant": vf.AssistantMessage}.get(message.get("role"), vf.UserMessage)
            nodes.append(vf.MessageNode(parent=len(nodes) - 1 if nodes else None, message=kind(content=str(message.get("content") or ""))))
        nodes.append(vf.MessageNode(parent=len(nodes) - 1 if nodes else None, message=vf.AssistantMessage(content=sample.response_text), sampled=True))
        return Trace(task=TraceTask(type=self.task_class.__name__, data=data), agent=AgentInfo(config=vf.AgentConfig()), nodes=nodes)

    def _data(self, sample: Sample) -> Any:
        row = {k: v for k, v in sample.extra.items()}
        if sample.prompt is not None:
            row["prompt"] = sample.prompt if isinstance(sample.prompt, str) else _messages(sample.prompt)
        if sample.reference is not None:
            row[self.options.reference_field] = sample.reference
        known = self.data_type.model_fields
        extra_allowed = self.data_type.model_config.get("extra") == "allow"
        return self.data_type.model_validate({k: v for k, v in row.items() if k in known or extra_allowed})

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        return [await self._score(sample) for sample in samples]

    async def _score(self, sample: Sample) -> Judgment:
        from pydantic import ValidationError

        try:
            data = self._data(sample)
        except ValidationError as error:
            problem = error.errors()[0]
            return Judgment.fail("input", f"the sample does not fit {self.data_type.__name__}: {'.'.join(map(str, problem['loc']))}: {problem['msg']}")
        trace = self._trace(data, sample)
        task = self.task_class(data, self.task_config)
        try:
            await task.score(trace)
        except Exception as error:  # noqa: BLE001 - verifiers' TaskError: the rubric's code failed
            return Judgment.fail("backend", f"the verifiers rubric failed: {error}")
        unscored = [k for k, v in trace.rewards.items() if v is None]
        if unscored or not trace.rewards:
            return Judgment.fail("backend", f"the verifiers rubric left {', '.join(unscored) or 'every reward'} unscored")
        details = {k: Judgment(score=float(v.score), rationale=f"{k}: {v.score:g} x weight {v.weight:g}", meta={"weight": v.weight}) for k, v in trace.rewards.items()}
        total = float(trace.reward)
        if not math.isfinite(total):
            return Judgment.fail("backend", f"the verifiers rubric's weighted sum is {total}, not a score")
        parts = " + ".join(f"{v.weight:g}*{k}({v.score:g})" for k, v in trace.rewards.items())
        return Judgment(score=total, rationale=f"verifiers rubric {self.task_class.__name__}: {parts} = {total:g}", details=details,
                        meta={"metrics": dict(trace.metrics)} if trace.metrics else {})


__all__ = ["VerifiersReward"]
