"""Assay rewards for slime (THUDM/slime): the ``--custom-rm-path`` function, and the helpers
behind the server's answer to slime's ``remote_rm``.

slime calls a custom reward function (``--custom-rm-path assay.integrations.slime.reward_func``)
as ``await reward_func(args, sample)`` for one sample, and as ``await reward_func(args,
samples)`` with a list (``--group-rm``, where the list is one prompt's group, or a custom
generate function that fans one rollout out into several samples). It expects a number per
sample, or a dict when slime is told which key is the reward (``--reward-key``). So
:func:`reward_func` answers:

- one ``Sample`` -> a float (the total), or with ``--reward-key K`` a dict: ``K`` (the total),
  ``score``, ``failed``, ``failure_kind``, ``rationale`` and one key per named reward;
- a list -> a list of those, in order. A list is scored as groups: a sample's group is its
  ``group_index`` (slime sets it), else the whole list is one group, so group-normalised
  components (``normalize: group``) see the group.

A slime ``Sample``'s ``prompt`` (text or chat messages), ``response`` and ``label`` become the
assay sample's prompt, response and reference; ``metadata`` keys become sample fields
(``rubric``, ``tests``, ...), ``index`` the id. A failed total is NaN unless ``failure_score``
is chosen (``ASSAY_FAILURE_SCORE``), as for veRL and OpenRLHF; ``failed`` marks it in the dict
form. The config comes from ``args.assay_config`` when slime's args carry one, else
``ASSAY_CONFIG``.

slime's built-in ``--rm-type remote_rm`` posts ``{"prompt", "response", "label"}`` to
``--rm-url`` and stores the JSON it gets back as the sample's reward; ``assay serve`` answers
it at ``POST /slime`` (a bare number) and ``POST /slime?detail=1`` (the dict above, for
``--reward-key score``). :func:`remote_sample` reads that body, :func:`slime_answer` writes
the answer; both are checked against slime's own ``remote_rm`` client code (slime is not on
PyPI, so the tests replay that client: see docs/trainers/slime.md).

    >>> import os; os.environ["ASSAY_CONFIG"] = "rewards.yaml"        # doctest: +SKIP
    >>> await reward_func(args, sample)                                # doctest: +SKIP
    1.0
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from assay.integrations.common import cached_reward, component_names, flat_result, group_refusal, resolve_config, resolve_failure_score
from assay.types import Judgment, Sample

DETAIL_KEYS = ("score", "failed", "failure_kind", "rationale")
_CALLS = itertools.count()


def from_slime(sample: Any, group: Any = None) -> Sample:
    """An assay sample from a slime ``Sample`` (or anything with its attributes)."""
    metadata = getattr(sample, "metadata", None)
    extra = dict(metadata) if isinstance(metadata, dict) else {}
    group_index = getattr(sample, "group_index", None)
    return Sample(
        prompt=getattr(sample, "prompt", None) or None,
        response=getattr(sample, "response", "") or "",
        reference=getattr(sample, "label", None),
        id=getattr(sample, "index", None),
        group=group_index if group_index is not None else group,
        extra=extra,
    )


def slime_answer(judgment: Judgment, names: list[str], failure_score: float, reward_key: str | None) -> float | dict[str, Any]:
    """What slime stores as a sample's reward: the total, or (with a reward key) the flat
    dict with the total also under that key."""
    row = flat_result(judgment, names, failure_score)
    if not reward_key:
        return row["score"]
    return {**row, reward_key: row["score"]}


def remote_sample(body: Any) -> Sample:
    """The sample in slime's ``remote_rm`` body ``{"prompt", "response", "label"}``; a
    ``ValueError`` naming the field when the body is not that."""
    if not isinstance(body, dict):
        raise ValueError(f"expected slime's remote_rm object {{prompt, response, label}}, got {type(body).__name__}")
    if "response" not in body:
        raise ValueError("missing field 'response' (slime's remote_rm sends prompt, response and label)")
    response = body["response"]
    if not isinstance(response, str):
        raise ValueError(f"field 'response' must be text, got {type(response).__name__}")
    prompt = body.get("prompt")
    if prompt is not None and not isinstance(prompt, (str, list)):
        raise ValueError(f"field 'prompt' must be text or chat messages, got {type(prompt).__name__}")
    extra = {k: v for k, v in body.items() if k not in ("prompt", "response", "label")}
    return Sample(prompt=prompt or None, response=response, reference=body.get("label"), extra=extra)


async def reward_func(args: Any, sample: Any, config: Any = None, failure_score: float | str | None = None, **kwargs: Any) -> Any:
    """slime's custom reward function: a reward per sample (see the module docstring)."""
    reward = cached_reward(resolve_config(config or getattr(args, "assay_config", None)))
    fail = resolve_failure_score(failure_score if failure_score is not None else getattr(args, "assay_failure_score", None))
    reward_key = getattr(args, "reward_key", None)
    names = component_names(reward)
    if isinstance(sample, Sequence) and not isinstance(sample, (str, bytes)):
        call = ("slime-call", next(_CALLS))  # one group per call when slime gives no group_index
        samples = [from_slime(s, group=call) for s in sample]
        judgments = await reward.ascore(samples) if samples else []
        return [slime_answer(j, names, fail, reward_key) for j in judgments]
    refused = group_refusal(reward, "slime without --group-rm", "add --group-rm so that slime passes the whole group")
    (judgment,) = [refused] if refused else await reward.ascore([from_slime(sample)])
    return slime_answer(judgment, names, fail, reward_key)


__all__ = ["reward_func", "from_slime", "remote_sample", "slime_answer", "DETAIL_KEYS"]
