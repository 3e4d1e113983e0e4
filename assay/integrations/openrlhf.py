"""Assay rewards for OpenRLHF: the ``reward_func`` file hook, and the helpers behind the
server's OpenRLHF-compatible ``POST /get_reward``.

OpenRLHF's file hook (``--reward.remote_url /path/to/assay/integrations/openrlhf.py``, with
``--data.label_key answer`` for the gold answers; before OpenRLHF 0.11 the flags were
``--remote_rm_url`` and ``--label_key``) is called positionally in a thread as
``reward_func(queries, prompts, labels)``, where each query is the prompt plus the response
as one text (chat template and special tokens included). It returns::

    {"rewards": tensor, "scores": tensor, "extra_logs": {"failed": tensor, "<name>": tensor, ...}}

The response is the query after the prompt (found by ``query.find(prompt)``), with trailing
end-of-turn tokens (``<eos>``, ``<|im_end|>``, ``</s>``, ...) removed. A query that does not
contain its prompt is an ``input`` failure, not a guess. The config comes from
``ASSAY_CONFIG`` (or a ``config`` keyword). As in the veRL adapter, a failed total is NaN
unless ``ASSAY_FAILURE_SCORE`` (or ``failure_score=``) names a number, and ``extra_logs``
carries ``failed`` (1 per failed sample), each component's score (NaN when it failed) and
``<name>/failed`` (1 when that component failed), which OpenRLHF averages into its logs as
series of their own; a ``remote`` component's server components are series too
(``<name>/<server component>``, see ``component_paths``). Rationales are not numbers, so
they go to a JSONL file when ``ASSAY_RATIONALE_LOG`` names one (one row per sample: query,
score, rationale, failure, each component's rationale under ``components``, and the step
scores when the config has a process reward).

Step rewards: OpenRLHF 0.11's API takes one scalar per sample and nothing finer. Its rollout
executor reads ``rewards``/``scores``/``extra_logs`` of the returned dict only; the samples
generator turns ``rewards`` into ``torch.tensor([reward])`` and each ``extra_logs`` value into
its first element (``value.flatten()[0].item()``); ``compute_reward`` scatters that one number
onto the response's last token (``r.unsqueeze(1)``), and the group normalisations reshape
rewards to (prompts, samples per prompt). So with a process reward (``prm``, ``process`` with
``step_arithmetic`` or ``step_judge``) the reward OpenRLHF trains on is the process reward's
aggregate, as configured (``aggregate: min``...), and the step scores are logged beside it as
per-sample scalars in ``extra_logs``: ``step_scores/count`` (steps scored), ``step_scores/min``,
``step_scores/mean``, ``step_scores/last`` (over the steps that were not abstained on; NaN when
there are none) and ``step_scores/first_error`` (the predicted first wrong step, -1 for none).
The whole lists travel under ``"step_scores"`` in the returned dict (OpenRLHF ignores the key;
assay's server returns it) and in the rationale log. Token-level step rewards need veRL
(:mod:`assay.integrations.verl_steps`).

    >>> import os; os.environ["ASSAY_CONFIG"] = "rewards.yaml"            # doctest: +SKIP
    >>> reward_func(["Q: 2+2? A: 4<eos>"], ["Q: 2+2? A:"], ["4"])["rewards"]  # doctest: +SKIP
    tensor([1.])
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from assay.integrations.common import cached_reward, component_key, component_paths, flat_result, judgment_at, labelled, resolve_config, resolve_failure_score
from assay.reward import run_sync
from assay.rewards.process.steps import step_scores_of
from assay.types import Judgment, Sample

END_TOKENS = ("<eos>", "<end_of_turn>", "<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>", "<|end|>", "<|end_of_text|>")
RATIONALE_LOG_ENV = "ASSAY_RATIONALE_LOG"
_LOG_LOCK = threading.Lock()


def split_query(query: str, prompt: str | None) -> str | None:
    """The response part of an OpenRLHF query (prompt + response), or None when the prompt is
    not in the query. Trailing end-of-turn tokens and whitespace are removed."""
    if prompt:
        at = query.find(prompt)
        if at < 0:
            return None
        response = query[at + len(prompt):]
    else:
        response = query
    changed = True
    while changed:
        changed = False
        stripped = response.rstrip()
        for token in END_TOKENS:
            if stripped.endswith(token):
                response, changed = stripped[: -len(token)], True
                break
    return response.strip()


def make_samples(queries: Sequence[str], prompts: Sequence[str] | None, labels: Sequence[Any] | None) -> tuple[list[Sample], dict[int, Judgment]]:
    """Samples for the queries, and the input failures of queries that could not be split."""
    n = len(queries)
    prompts = list(prompts) if prompts is not None else [None] * n  # type: ignore[list-item]
    labels = list(labels) if labels is not None else [None] * n
    if len(prompts) != n or len(labels) != n:
        raise ValueError(f"{n} queries but {len(prompts)} prompts and {len(labels)} labels; expected one of each per query")
    samples, bad = [], {}
    groups: dict[str, int] = {}
    for i, (query, prompt, label) in enumerate(zip(queries, prompts, labels, strict=True)):
        if not isinstance(query, str):
            bad[i] = Judgment.fail("input", f"query {i} is {type(query).__name__}, not text")
            samples.append(Sample(response=""))
            continue
        response = split_query(query, prompt)
        if response is None:
            bad[i] = Judgment.fail("input", f"query {i} does not contain its prompt, so its response cannot be separated", raw=query[:500])
            response = ""
        group = groups.setdefault(prompt or "", len(groups))
        samples.append(Sample(prompt=prompt, response=response, reference=label, id=i, group=group))
    return samples, bad


STEP_LOGS = ("count", "min", "mean", "last", "first_error")


def _first_error(judgment: Judgment) -> float:
    """The predicted first wrong step of a judgment's process reward (-1: none), NaN when it has none."""
    places = [judgment.details] + [v.details for v in judgment.details.values() if isinstance(v, Judgment)]
    for details in places:
        if isinstance(details.get("step_scores"), list) and isinstance(details.get("first_error"), int):
            return float(details["first_error"])
    return math.nan


def step_logs(judgments: list[Judgment]) -> tuple[list[list[float | None]], dict[str, list[float]]] | None:
    """Each sample's step scores (empty for a failed sample) and their per-sample scalar
    summaries for ``extra_logs`` (``step_scores/<count|min|mean|last|first_error>``); None when
    no judgment carries step scores (a config without a process reward)."""
    found = [step_scores_of(j) if j.ok else None for j in judgments]
    if all(scores is None for scores in found):
        return None
    lists = [scores or [] for scores in found]
    logs: dict[str, list[float]] = {f"step_scores/{key}": [] for key in STEP_LOGS}
    for judgment, scores in zip(judgments, lists, strict=True):
        scored = [float(v) for v in scores if v is not None]
        logs["step_scores/count"].append(float(len(scored)))
        logs["step_scores/min"].append(min(scored) if scored else math.nan)
        logs["step_scores/mean"].append(sum(scored) / len(scored) if scored else math.nan)
        logs["step_scores/last"].append(scored[-1] if scored else math.nan)
        logs["step_scores/first_error"].append(_first_error(judgment) if judgment.ok else math.nan)
    return lists, logs


def result_lists(judgments: list[Judgment], reward: Any, failure_score: float) -> dict[str, Any]:
    """``{"rewards": [...], "scores": [...], "extra_logs": {...}}`` as plain lists, plus the
    rationales under ``"rationales"`` (the server returns them; the file hook logs them), and,
    with a process reward, ``"step_scores"`` (one list per sample) and their scalar summaries
    in ``extra_logs``. ``failure_score`` is what a failed total becomes (NaN unless chosen)."""
    paths = component_paths(reward)
    rows = [flat_result(j, paths, failure_score) for j in judgments]
    rewards = [row["score"] for row in rows]
    extra_logs: dict[str, list[float]] = {"failed": [float(row["failed"]) for row in rows]}
    for name in paths:
        extra_logs[name] = [row[component_key(name)] for row in rows]
    for name in paths:
        extra_logs[f"{name}/failed"] = [float(row[f"{name}/failed"]) for row in rows]
    result: dict[str, Any] = {
        "rewards": rewards,
        "scores": list(rewards),
        "extra_logs": extra_logs,
        "rationales": [row["rationale"] for row in rows],
        "failures": [j.failure.to_dict() if j.failure else None for j in judgments],
        "component_rationales": {name: [labelled(judgment_at(j, path)) for j in judgments] for name, path in paths.items()},
    }
    steps = step_logs(judgments)
    if steps is not None:
        result["step_scores"], logs = steps
        extra_logs.update(logs)
    return result


async def ascore_queries(
    ascore: Callable[[list[Sample]], Awaitable[list[Judgment]]], queries: Sequence[str], prompts: Sequence[str] | None, labels: Sequence[Any] | None
) -> tuple[list[Judgment], list[Judgment]]:
    """Judgments for OpenRLHF queries, scoring the ones that split by ``ascore``; and the
    ``input`` failures of those that could not be split (already among the judgments)."""
    samples, bad = make_samples(queries, prompts, labels)
    good = [i for i in range(len(samples)) if i not in bad]
    scored = await ascore([samples[i] for i in good]) if good else []
    out: list[Judgment] = [bad.get(i) for i in range(len(samples))]  # type: ignore[misc]
    for i, judgment in zip(good, scored, strict=True):
        out[i] = judgment
    return out, list(bad.values())


def _log_rationales(queries: Sequence[str], result: dict[str, Any]) -> None:
    path = os.environ.get(RATIONALE_LOG_ENV)
    if not path:
        return
    with _LOG_LOCK, open(path, "a", encoding="utf-8") as out:
        components = result["component_rationales"]
        steps = result.get("step_scores") or [None] * len(queries)
        for i, (query, score, rationale, failure, step_scores) in enumerate(zip(queries, result["rewards"], result["rationales"], result["failures"], steps, strict=True)):
            row = {"query": query, "score": score, "rationale": rationale, "failure": failure, "components": {name: values[i] for name, values in components.items()}}
            if step_scores is not None:
                row["step_scores"] = step_scores
            out.write(json.dumps(row) + "\n")


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any], config: Any = None, failure_score: float | str | None = None, **kwargs: Any) -> dict[str, Any]:
    """OpenRLHF's file hook: torch tensors for ``rewards``, ``scores`` and each ``extra_logs`` entry."""
    import torch

    reward = cached_reward(resolve_config(config))
    judgments, _ = run_sync(ascore_queries(reward.ascore, queries, prompts, labels))
    result = result_lists(judgments, reward, resolve_failure_score(failure_score))
    _log_rationales(queries, result)
    out = {
        "rewards": torch.tensor(result["rewards"], dtype=torch.float32),
        "scores": torch.tensor(result["scores"], dtype=torch.float32),
        "extra_logs": {k: torch.tensor(v, dtype=torch.float32) for k, v in result["extra_logs"].items()},
    }
    if "step_scores" in result:
        out["step_scores"] = result["step_scores"]  # lists; OpenRLHF reads only the three keys above
    return out
