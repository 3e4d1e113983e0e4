"""Assay rewards as a veRL custom reward function.

veRL calls ``compute_score(data_source, solution_str, ground_truth, extra_info=None,
**reward_kwargs)`` once per response (``solution_str`` is the decoded response, without the
prompt), and the ``batch`` reward manager calls ``compute_score_batch(data_sources=...,
solution_strs=..., ground_truths=..., extra_infos=..., **reward_kwargs)``. Point veRL at
this file::

    reward:
      custom_reward_function:
        path: /path/to/site-packages/assay/integrations/verl.py   # python -c "import assay.integrations.verl as m; print(m.__file__)"
        name: compute_score          # or compute_score_async, or compute_score_batch
        reward_kwargs:
          config: /abs/path/rewards.yaml   # or set ASSAY_CONFIG
          failure_score: 0.0               # optional, see below

Every call returns a dict with the same keys for every sample (veRL takes the keys of the
first sample): ``score`` (the total), ``failed`` (1 when the total could not be computed,
else 0), ``failure_kind`` (``parse``/``backend``/``timeout``/``input``/``internal``,
``abstained``, or empty), ``rationale`` (why this score), and per named reward its score
(NaN when that component failed), ``<name>/failed`` (1 when it failed) and
``rationale/<name>`` (its rationale, failures labelled with their kind); a ``remote``
component's server components get the same three keys as ``<name>/<server component>``.
veRL's validation turns the numeric keys into metrics (``val-aux/<data source>/<key>/mean@N``)
and writes every key into its rollout and validation dumps. A failed total is NaN unless you
set ``failure_score`` (reward kwarg or ``ASSAY_FAILURE_SCORE``): veRL needs a number, and
assay will not invent one for you. With NaN, a broken reward shows in the curves at once;
with ``failure_score`` you choose the penalty, and ``failed`` still counts every failure.

The reward is loaded once per process and config. The prompt, when veRL's ``extra_info``
carries one (``question`` or ``prompt``), is given to the reward; every other ``extra_info``
key is a sample field (``rubric``, ``tests``, ...), and ``data_source`` too.

    >>> compute_score("gsm8k", "... #### 72", "72", config={"rewards": {"em": {"type": "exact_match"}}})["failed"]
    0

Step rewards (a config with a process reward: ``prm``, ``step_judge``, ``process``): veRL's
reward managers put one number on each response's last token. The ``assay_steps`` reward
manager (``assay/integrations/verl_steps.py``, registered in veRL's reward-manager registry
on import) places the rewards on the tokens instead, chosen by ``token_rewards`` in the
reward kwargs: ``outcome`` (the total at the last token, as veRL's own managers do),
``steps`` (each step's score at the token that ends the step) or ``steps_and_outcome``
(both; where the last step ends on the last token the two add). The steps are the response
split as the process rewards split it (``split_steps``); a step the reward abstained on
gets nothing at its token. :func:`token_rewards` does the placement for one response and
works without veRL. ``compute_score_batch(..., step_rewards=True)`` adds each response's
``step_scores`` (a list, empty when the config has no process reward) to its dict.

The trainer's step: each function takes ``step`` (the global step) and gives it to the
composed reward (weight schedules) and to any ``remote`` component (its server's
schedules). veRL 0.9.1's own reward managers do not pass the step to a reward function;
the ``assay_steps`` manager passes the batch's ``meta_info["global_steps"]`` when veRL put
one there (it does on the batches it generates from).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from assay.integrations.common import cached_reward, flat_results, resolve_config, resolve_failure_score, set_step
from assay.rewards.process.steps import split_steps, step_scores_of
from assay.types import Judgment, Sample

Config = str | os.PathLike[str] | dict[str, Any] | None
PROMPT_KEYS = ("prompt", "question")
GROUP_KEYS = ("group", "uid")  # which extra_info key ties the responses of one prompt together


def make_sample(data_source: Any, solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None) -> Sample:
    """One veRL response as a Sample."""
    extra = dict(extra_info or {}) if isinstance(extra_info, dict) else {}
    prompt = next((extra.pop(k) for k in PROMPT_KEYS if isinstance(extra.get(k), (str, list))), None)
    extra["data_source"] = data_source if isinstance(data_source, (str, int, float, type(None))) else str(data_source)
    sample_id = extra.pop("index", None)
    group = next((extra.pop(k) for k in GROUP_KEYS if extra.get(k) is not None), None)
    return Sample(prompt=prompt, response=solution_str or "", reference=ground_truth, id=sample_id, group=group, extra=extra)


def _refuse_group_steps(reward: Any, where: str) -> None:
    if reward.needs_whole_groups:
        raise ValueError(
            f"{where}: this config scores samples within their group (normalisation, trust weights or a group judge); "
            "veRL's per-response call sees one response at a time. Use compute_score_batch with the group id in "
            f"extra_info ({' or '.join(GROUP_KEYS)})"
        )


def _results(judgments: list[Judgment], reward: Any, failure_score: float | str | None) -> list[dict[str, Any]]:
    return flat_results(judgments, reward, resolve_failure_score(failure_score), rationales=True)


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    config: Config = None,
    failure_score: float | str | None = None,
    step: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """veRL's per-response reward function (sync)."""
    reward = cached_reward(resolve_config(config))
    set_step(reward, step)
    _refuse_group_steps(reward, "compute_score")
    judgments = reward.score([make_sample(data_source, solution_str, ground_truth, extra_info)])
    return _results(judgments, reward, failure_score)[0]


async def compute_score_async(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    config: Config = None,
    failure_score: float | str | None = None,
    step: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """veRL's per-response reward function, ``async def`` (veRL awaits it on its event loop)."""
    import asyncio

    reward = await asyncio.to_thread(cached_reward, resolve_config(config))
    set_step(reward, step)
    _refuse_group_steps(reward, "compute_score_async")
    judgments = await reward.ascore([make_sample(data_source, solution_str, ground_truth, extra_info)])
    return _results(judgments, reward, failure_score)[0]


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[dict[str, Any] | None] | None = None,
    config: Config = None,
    failure_score: float | str | None = None,
    step_rewards: bool = False,
    step: int | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """veRL's ``batch`` reward manager function: every response of the step scored in one
    call (model-based rewards batch; group-level steps see whole groups)."""
    n = len(solution_strs)
    if not (len(data_sources) == len(ground_truths) == n):
        raise ValueError(f"compute_score_batch: {len(data_sources)} data_sources, {n} solution_strs, {len(ground_truths)} ground_truths")
    infos = list(extra_infos) if extra_infos is not None else [None] * n
    reward = cached_reward(resolve_config(config))
    set_step(reward, step)
    samples = [make_sample(d, s, g, e) for d, s, g, e in zip(data_sources, solution_strs, ground_truths, infos, strict=True)]
    if reward.needs_whole_groups and any(s.group is None for s in samples):
        raise ValueError(f"compute_score_batch: this config scores samples within their group; put the group id in every extra_info ({' or '.join(GROUP_KEYS)})")
    judgments = reward.score(samples)
    results = _results(judgments, reward, failure_score)
    if step_rewards:
        for result, judgment in zip(results, judgments, strict=True):
            # a failed sample's step scores are not placed: its total (the failure policy) goes on the last token
            result["step_scores"] = (step_scores_of(judgment) or []) if judgment.ok else []
    return results


TOKEN_REWARDS = ("outcome", "steps", "steps_and_outcome")


def step_end_tokens(decode: Any, token_ids: Sequence[int], text: str, steps: Sequence[str]) -> list[int | None]:
    """For each step (in order, as found in ``text``, the decoded response), the index of the
    token whose decoded prefix first covers the step's last character; None for a step not
    found in the text. ``decode(ids)`` is the tokenizer's decode, as the reward manager used it.
    A binary search over decoded prefix lengths: O(steps x log tokens) decodes."""
    lengths: dict[int, int] = {}

    def covered(t: int) -> int:  # characters decoded from the first t + 1 tokens
        if t not in lengths:
            lengths[t] = len(decode(list(token_ids[: t + 1])))
        return lengths[t]

    ends: list[int | None] = []
    position = 0
    for step in steps:
        found = text.find(step, position) if step else -1
        if found < 0:
            ends.append(None)
            continue
        position = found + len(step)
        lo, hi = 0, len(token_ids) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if covered(mid) >= position:
                hi = mid
            else:
                lo = mid + 1
        ends.append(lo)
    return ends


def token_rewards(decode: Any, token_ids: Sequence[int], text: str, total: float, step_scores: Sequence[float | None] | None, how: str = "steps_and_outcome") -> tuple[list[float], dict[str, int]]:
    """The reward of each token of one response (``len(token_ids)`` values) and what was placed.

    ``outcome``: ``total`` at the last token. ``steps``: each step's score at the token ending
    it (the steps split from ``text`` as the process rewards split them). ``steps_and_outcome``:
    both. A config without step scores, or whose step count does not match the split, places
    only the outcome (``steps_placed`` 0, ``steps_unplaced`` says how many were not placed)."""
    if how not in TOKEN_REWARDS:
        raise ValueError(f"token_rewards must be one of {', '.join(TOKEN_REWARDS)}, not {how!r}")
    rewards = [0.0] * len(token_ids)
    info = {"steps_placed": 0, "steps_unplaced": 0}
    if not token_ids:
        return rewards, info
    if how in ("outcome", "steps_and_outcome") or not step_scores:
        rewards[-1] += float(total)
    if how == "outcome" or not step_scores:
        return rewards, info
    steps = split_steps(text)
    if len(steps) != len(step_scores):
        info["steps_unplaced"] = len(step_scores)
        if how == "steps":
            rewards[-1] += float(total)  # nothing to place the steps on: the outcome, not a silent zero
        return rewards, info
    for end, score in zip(step_end_tokens(decode, token_ids, text, steps), step_scores, strict=True):
        if score is None:
            continue  # the reward abstained on this step: no reward at its token
        if end is None:
            info["steps_unplaced"] += 1
            continue
        rewards[end] += float(score)
        info["steps_placed"] += 1
    return rewards, info
