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
score, rationale, failure, and each component's rationale under ``components``).

    >>> import os; os.environ["ASSAY_CONFIG"] = "rewards.yaml"            # doctest: +SKIP
    >>> reward_func(["Q: 2+2? A: 4<eos>"], ["Q: 2+2? A:"], ["4"])["rewards"]  # doctest: +SKIP
    tensor([1.])
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from assay.integrations.common import cached_reward, component_key, component_paths, flat_result, judgment_at, labelled, resolve_config, resolve_failure_score
from assay.reward import run_sync
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


def result_lists(judgments: list[Judgment], reward: Any, failure_score: float) -> dict[str, Any]:
    """``{"rewards": [...], "scores": [...], "extra_logs": {...}}`` as plain lists, plus the
    rationales under ``"rationales"`` (the server returns them; the file hook logs them).
    ``failure_score`` is what a failed total becomes (NaN unless chosen)."""
    paths = component_paths(reward)
    rows = [flat_result(j, paths, failure_score) for j in judgments]
    rewards = [row["score"] for row in rows]
    extra_logs: dict[str, list[float]] = {"failed": [float(row["failed"]) for row in rows]}
    for name in paths:
        extra_logs[name] = [row[component_key(name)] for row in rows]
    for name in paths:
        extra_logs[f"{name}/failed"] = [float(row[f"{name}/failed"]) for row in rows]
    return {
        "rewards": rewards,
        "scores": list(rewards),
        "extra_logs": extra_logs,
        "rationales": [row["rationale"] for row in rows],
        "failures": [j.failure.to_dict() if j.failure else None for j in judgments],
        "component_rationales": {name: [labelled(judgment_at(j, path)) for j in judgments] for name, path in paths.items()},
    }


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
        for i, (query, score, rationale, failure) in enumerate(zip(queries, result["rewards"], result["rationales"], result["failures"], strict=True)):
            row = {"query": query, "score": score, "rationale": rationale, "failure": failure, "components": {name: values[i] for name, values in components.items()}}
            out.write(json.dumps(row) + "\n")


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any], config: Any = None, failure_score: float | str | None = None, **kwargs: Any) -> dict[str, Any]:
    """OpenRLHF's file hook: torch tensors for ``rewards``, ``scores`` and each ``extra_logs`` entry."""
    import torch

    reward = cached_reward(resolve_config(config))
    judgments, _ = run_sync(ascore_queries(reward.ascore, queries, prompts, labels))
    result = result_lists(judgments, reward, resolve_failure_score(failure_score))
    _log_rationales(queries, result)
    return {
        "rewards": torch.tensor(result["rewards"], dtype=torch.float32),
        "scores": torch.tensor(result["scores"], dtype=torch.float32),
        "extra_logs": {k: torch.tensor(v, dtype=torch.float32) for k, v in result["extra_logs"].items()},
    }
