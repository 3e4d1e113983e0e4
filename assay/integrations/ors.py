"""Assay rewards as an Open Reward Standard (ORS) environment's reward (the ``openreward`` SDK).

An ORS environment is an ``openreward.environments.Environment`` subclass: tasks (JSON
objects) per split, a prompt per task, and tools; the *terminal* tool receives the policy's
final message and returns a ``ToolOutput`` whose ``reward`` is the episode's reward (``None``
when there is none), and ``score_group`` may score a GRPO group's candidates together.
``assay_environment(config, tasks)`` builds one whose reward is an assay config:

- the tasks are ``{"prompt", "reference", ...fields}`` rows (a dict ``split -> rows``, or one
  list as split ``train``); ``get_prompt`` is the task's prompt;
- the terminal tool ``answer`` scores the message as the sample's response: ``reward`` is the
  total, ``blocks`` the rationale, and ``metadata`` holds ``failed``, ``failure`` (kind and
  message) and each named reward's score and rationale. A failed or abstained total is
  ``reward: None`` (ORS's "no reward"), never a number;
- ``score_group`` scores the candidates' final assistant messages as one group (so
  group-normalised components and listwise judges see the group) and, as ORS asks, raises
  when a candidate's total failed rather than fabricating a score.

Serve it with ORS's own server (``openreward.environments.Server([Env]).run(port=8080)``); any
ORS client (``AsyncEnvironmentsAPI(base_url=...).get(name).session(task=...)``) then gets assay
rewards. The reverse, an ORS environment as an assay reward, is ``type: ors``
(:mod:`assay.rewards.ors`). Needs ``pip install 'assay[ors]'``.

    >>> Env = assay_environment("rewards.yaml", {"train": [{"prompt": "2+2?", "reference": "4"}]})  # doctest: +SKIP
    >>> openreward.environments.Server([Env]).run(port=8080)                                         # doctest: +SKIP
"""

# No ``from __future__ import annotations``: ORS reads the terminal tool's argument model from
# its annotations with ``get_type_hints``, so they must be real objects here.

import itertools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.integrations.common import cached_reward, component_judgment, component_names, group_refusal
from assay.text import content_text
from assay.types import Judgment, Sample, outcome

_GROUPS = itertools.count()


def read_tasks(tasks: Any) -> dict[str, list[dict[str, Any]]]:
    """Tasks as ``split -> rows``: a dict of lists, one list (split ``train``) or a JSONL file
    (each row may carry ``split``); a ``ValueError`` naming the row when one is not an object."""
    if isinstance(tasks, (str, os.PathLike)):
        rows = []
        for number, line in enumerate(Path(tasks).read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"{tasks}:{number}: a task must be a JSON object")
                rows.append(row)
        split: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            split.setdefault(str(row.get("split", "train")), []).append(row)
        return split
    if isinstance(tasks, dict):
        out = {str(k): list(v) for k, v in tasks.items()}
    else:
        out = {"train": list(tasks)}
    for name, rows in out.items():
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ValueError(f"tasks[{name!r}][{i}]: a task must be an object, got {type(row).__name__}")
    return out


def task_sample(task: dict[str, Any], response: str, group: Any = None) -> Sample:
    """The assay sample for one task and the policy's answer."""
    fields = {k: v for k, v in task.items() if k not in ("prompt", "reference", "id", "split")}
    return Sample(prompt=task.get("prompt"), response=response, reference=task.get("reference"), id=task.get("id"), group=group, extra=fields)


def _jsonable(value: float | None) -> float | None:
    return None if value is None else float(value)


def _failure(judgment: Judgment | None) -> dict[str, str] | None:
    """A failure as the environment reports it: kind and message (a traceback stays here)."""
    failure = judgment.failure if judgment is not None else None
    return None if failure is None else {"kind": failure.kind, "message": failure.message}


def tool_metadata(judgment: Judgment, names: Sequence[str]) -> dict[str, Any]:
    """What a ``ToolOutput``'s metadata carries: the verdict's words and each component."""
    components = {}
    for name in names:
        part = component_judgment(judgment, name)
        components[name] = {"score": _jsonable(part.score) if part else None, "rationale": part.rationale if part else "",
                            "failure": _failure(part)}
    return {
        "failed": judgment.failure is not None,
        "outcome": outcome(judgment),
        "failure": _failure(judgment),
        "rationale": judgment.rationale,
        "components": components,
    }


def _candidate_answer(candidate: Any) -> str:
    """The final assistant message's text of an ORS ``GroupCandidate`` (its ``view="output"``)."""
    for message in reversed(list(candidate.messages)):
        if message.role == "assistant":
            return "".join(getattr(block, "text", "") for block in message.blocks if getattr(block, "type", "") == "text")
    return ""


def assay_environment(config: Any, tasks: Any, name: str = "AssayEnvironment") -> type:
    """An ORS ``Environment`` class whose terminal tool and ``score_group`` score with ``config``."""
    from openreward.environments import Environment, TextBlock, ToolOutput, terminal, tool
    from openreward.environments.types import GroupScore
    from pydantic import BaseModel

    splits = read_tasks(tasks)
    reward = cached_reward(config)
    names = component_names(reward)

    class Answer(BaseModel):
        answer: str

    async def answer(self: Any, params: Answer) -> ToolOutput:
        refused = group_refusal(reward, "an ORS terminal tool", "score the group with score_group")
        (judgment,) = [refused] if refused else await reward.ascore([task_sample(self.task_spec, params.answer)])
        total = judgment.score if judgment.failure is None else None
        return ToolOutput(blocks=[TextBlock(text=judgment.rationale or "(no rationale)")], reward=_jsonable(total), finished=True,
                          metadata=tool_metadata(judgment, names))

    answer.__annotations__ = {"params": Answer, "return": ToolOutput}
    answer.__doc__ = "Submit your final answer; it is scored by the environment's assay reward."

    async def score_group(self: Any, candidates: Sequence[Any]) -> list[Any]:
        group = ("ors-group", next(_GROUPS))
        samples = [task_sample(self.task_spec, _candidate_answer(c), group=group) for c in candidates]
        judgments = await reward.ascore(samples)
        failed = [(i, j) for i, j in enumerate(judgments) if j.score is None]
        if failed:
            i, j = failed[0]
            raise RuntimeError(f"candidate {i} could not be scored ({outcome(j)}): {j.rationale}")
        return [GroupScore(reward=float(j.score), metadata=tool_metadata(j, names)) for j in judgments]  # type: ignore[arg-type]

    def get_prompt(self: Any) -> list[Any]:
        prompt = self.task_spec.get("prompt")
        text = prompt if isinstance(prompt, str) else "\n".join(content_text(m.get("content")) for m in prompt or [] if isinstance(m, dict))
        return [TextBlock(text=text)]

    def list_splits(cls: Any) -> list[str]:
        return list(splits)

    def list_tasks(cls: Any, split: str) -> list[dict[str, Any]]:
        if split not in splits:
            raise ValueError(f"no split {split!r}; the splits are {', '.join(splits)}")
        return splits[split]

    namespace = {
        "answer": terminal(tool(answer)),
        "score_group": score_group,
        "get_prompt": get_prompt,
        "list_splits": classmethod(list_splits),
        "list_tasks": classmethod(list_tasks),
        "__doc__": f"ORS environment scored by an assay config ({', '.join(names)}).",
        "__module__": __name__,
    }
    return type(name, (Environment,), namespace)


__all__ = ["assay_environment", "read_tasks", "task_sample", "tool_metadata"]
