"""NeMo Gym's resources-server ``/verify``, read and answered for assay rewards.

NeMo Gym (NVIDIA-NeMo/Gym) asks a resources server to grade a rollout with ``POST /verify``.
The body is a ``BaseVerifyRequest``: ``responses_create_params`` (the OpenAI Responses API
request: ``input``, a string or a list of messages, and ``instructions``), ``response`` (the
OpenAI ``Response``: ``output`` items, the answer being the ``output_text`` parts of its
assistant ``message`` items) and the task's own fields (``expected_answer``, ...). The answer
is the request echoed with, from ``BaseVerifyResponse`` / ``BaseMultiRewardVerifyResponse``:

- ``reward``: the total; ``reward_components``: ``{name: score}`` for every named reward of
  the composite, each also a top-level number (NeMo Gym's aggregate metrics read top-level
  numbers only; a name that clashes with a request field becomes ``reward_<name>``);
- ``mask_sample``, ``failure_kind``, ``failure_reason``: NeMo Gym's way of saying "this reward
  is not a measurement". When the total or a component failed (or abstained), the sample is
  masked, ``failure_kind`` is the shared NeMo Gym name (``parse`` -> ``judge_unparseable``,
  ``backend`` -> ``judge_failed``, ``timeout``/``input``/``internal`` -> ``verifier_error``),
  ``failure_reason`` says which reward failed and why, and the number in its place is the
  ``failure_score`` (0.0 unless chosen: NeMo Gym's JSON is read by orjson, which refuses NaN,
  and its own judge failsafe answers 0.0 with ``mask_sample``). ``instance_config.mask_sample``
  is set too, as NeMo Gym does for older NeMo RL readers;
- ``assay``: ``{"rationale", "failure", "components": {name: {"score", "rationale",
  "failure"}}}``, the words behind the numbers.

The reference is the first of the request's ``expected_answer``, ``reference``, ``label``,
``answer``, ``ground_truth`` fields present (or the field named by ``reference_field``); every
other task field is a sample field (``rubric``, ``tests``, ...). Not here: seeding sessions,
tools, ``/aggregate_metrics`` (NeMo Gym computes those from the verify responses).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from assay.integrations.common import component_judgment, component_names
from assay.text import content_text
from assay.types import Judgment, Sample, outcome

REFERENCE_FIELDS = ("expected_answer", "reference", "label", "answer", "ground_truth")
PROTOCOL_FIELDS = ("responses_create_params", "response", "_ng_rollout_id")
FAILURE_KINDS = {"parse": "judge_unparseable", "backend": "judge_failed", "timeout": "verifier_error", "input": "verifier_error", "internal": "verifier_error"}


def _messages(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The prompt as chat messages: ``instructions`` as the system message, then the input
    items that are messages (tool calls and their outputs are not prompt text)."""
    messages: list[dict[str, Any]] = []
    if isinstance(params.get("instructions"), str) and params["instructions"]:
        messages.append({"role": "system", "content": params["instructions"]})
    items = params.get("input")
    if isinstance(items, str):
        return [*messages, {"role": "user", "content": items}]
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and "role" in item and item.get("type", "message") == "message":
            messages.append({"role": item["role"], "content": content_text(item.get("content"))})
    return messages


def response_text(response: dict[str, Any]) -> str:
    """The answer of an OpenAI ``Response``: the ``output_text`` parts of its assistant
    messages, in order (reasoning items and tool calls are not the answer)."""
    parts = []
    for item in response.get("output") or []:
        if isinstance(item, dict) and item.get("type") == "message" and item.get("role", "assistant") == "assistant":
            content = item.get("content")
            if isinstance(content, str):
                parts.append(content)
                continue
            for part in content if isinstance(content, list) else []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    parts.append(str(part.get("text", "")))
    return "".join(parts)


def verify_sample(body: Any, reference_field: str | None = None) -> Sample:
    """The assay sample in a ``/verify`` body; a ``ValueError`` naming the field when the body
    is not a NeMo Gym verify request."""
    if not isinstance(body, dict):
        raise ValueError(f"expected a NeMo Gym verify request object, got {type(body).__name__}")
    for key in ("responses_create_params", "response"):
        if not isinstance(body.get(key), dict):
            raise ValueError(f"field {key!r} must be an object (NeMo Gym's BaseVerifyRequest)")
    if not isinstance(body["response"].get("output"), list):
        raise ValueError("field 'response.output' must be a list of output items (an OpenAI Response)")
    fields = [reference_field] if reference_field else list(REFERENCE_FIELDS)
    ref_key = next((k for k in fields if k in body), None)
    extra = {k: v for k, v in body.items() if k not in PROTOCOL_FIELDS and k != ref_key}
    extra["tool_calls"] = [item for item in body["response"]["output"] if isinstance(item, dict) and item.get("type") == "function_call"]
    return Sample(
        prompt=_messages(body["responses_create_params"]) or None,
        response=response_text(body["response"]),
        reference=body.get(ref_key) if ref_key else None,
        id=body.get("_ng_rollout_id"),
        extra=extra,
    )


def _number(value: float | None, failure_score: float) -> float:
    return failure_score if value is None or not math.isfinite(value) else float(value)


def _explain(judgment: Judgment | None) -> dict[str, Any] | None:
    if judgment is None:
        return None
    return {"score": judgment.score, "rationale": judgment.rationale, "failure": judgment.failure.to_dict() if judgment.failure else None}


def verify_response(body: dict[str, Any], judgment: Judgment, names: Sequence[str], failure_score: float = 0.0) -> dict[str, Any]:
    """The ``/verify`` answer for ``body`` scored as ``judgment`` (see the module docstring)."""
    components: dict[str, float] = {}
    explained: dict[str, Any] = {}
    problems: list[tuple[str, Judgment]] = []
    if outcome(judgment) != "scored":
        problems.append(("total", judgment))
    for name in names:
        part = component_judgment(judgment, name) if len(names) > 1 or name in judgment.details else judgment
        components[name] = _number(part.score if part else None, failure_score)
        explained[name] = _explain(part)
        if part is None or outcome(part) != "scored":
            problems.append((name, part or Judgment.fail("internal", f"no judgment for {name}")))
    out = dict(body)
    out["reward"] = _number(judgment.score, failure_score)
    out["reward_components"] = components
    for name, value in components.items():
        out[name if name not in body and name not in ("reward", "reward_components", "mask_sample", "failure_kind", "failure_reason", "assay") else f"reward_{name}"] = value
    failed = [(where, j) for where, j in problems if j.failure is not None]
    out["mask_sample"] = bool(problems)
    out["failure_kind"] = FAILURE_KINDS[failed[0][1].failure.kind] if failed else None  # type: ignore[union-attr]
    out["failure_reason"] = (
        "; ".join(f"{where}: {'assay ' + j.failure.kind + ' failure: ' + j.failure.message if j.failure else 'abstained: ' + j.rationale}" for where, j in problems) if problems else None
    )
    if problems:
        config = body.get("instance_config")
        out["instance_config"] = {**(config if isinstance(config, dict) else {}), "mask_sample": True}
    out["assay"] = {"rationale": judgment.rationale, "failure": judgment.failure.to_dict() if judgment.failure else None, "components": explained}
    return out


def verify_answers(bodies: Sequence[dict[str, Any]], judgments: Sequence[Judgment], reward: Any, failure_score: float = 0.0) -> list[dict[str, Any]]:
    """``verify_response`` for a batch, with the reward's component names."""
    names = component_names(reward)
    return [verify_response(b, j, names, failure_score) for b, j in zip(bodies, judgments, strict=True)]


__all__ = ["verify_sample", "verify_response", "verify_answers", "response_text", "REFERENCE_FIELDS", "FAILURE_KINDS"]
