"""The listwise LLM judge (``listwise_judge``): one call per prompt group that scores and
ranks all N responses of the group (RewardAnything-style).

The group's responses are shown in an order shuffled by an RNG derived from
``shuffle_seed`` and the group (``shuffle: false`` keeps the batch order); the judge answers
with per-response scores on the scale and a ranking (``{"scores": {...}, "ranking": [...]}``),
or a ranking alone, whose scores are then spread evenly by rank. Samples with the same
``group`` are judged together (pass whole groups in one batch); a sample without a group is
judged alone. A failed call, or a reply that cannot be read, fails every sample of its
group with that failure; other groups are not touched.

    rewards:
      ranked: {type: listwise_judge, base_url: "http://127.0.0.1:8080/v1", scale_min: 1, scale_max: 10}
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from assay.reward import Reward
from assay.rewards.judges import prompting
from assay.rewards.judges.base import JudgeCore, ScaleOptions, with_transcript
from assay.rewards.judges.verdicts import parse_listwise
from assay.text import groups_of, shorten
from assay.types import Judgment, Sample


class ListwiseOptions(ScaleOptions):
    shuffle: bool = True  # present a group's responses in an order drawn from (shuffle_seed, group)
    shuffle_seed: int = 0


class ListwiseJudge(JudgeCore, Reward):
    """Scores and a ranking of a group's responses in one call. See the module docstring."""

    type_name = "listwise_judge"
    needs_whole_groups = True
    Options = ListwiseOptions
    prompt_name = "judge_listwise"

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        return await self.ajudge(samples)

    async def ajudge(self, samples: Sequence[Sample], overrides: Sequence[dict[str, Any] | None] | None = None) -> list[Judgment]:
        groups = list(groups_of(samples).items())
        first_override = [(overrides or [None] * len(samples))[members[0]] for _, members in groups]

        async def judge_group(group: tuple[Any, list[int]], override: dict[str, Any] | None) -> list[Judgment]:
            (_, key), members = group
            return await self._judge_group([samples[i] for i in members], str(key), override)

        outcomes = await self._each(groups, first_override, judge_group, Judgment)  # type: ignore[arg-type]
        results: list[Judgment | None] = [None] * len(samples)
        for (_, members), judgments in zip(groups, outcomes, strict=True):
            # a group whose judging raised comes back as one failure: every member gets it
            for index, judgment in zip(members, judgments if isinstance(judgments, list) else [replace(judgments) for _ in members], strict=True):
                results[index] = judgment
        return [j for j in results if j is not None]

    def build_messages(self, group: Sequence[Sample], order: Sequence[int]) -> list[dict[str, str]]:
        o = self.options
        values = self._texts(group[0])
        blocks = [prompting.fence("response", group[i].response_text, o.harden, attributes=f' id="{shown}"') for shown, i in enumerate(order, start=1)]
        values.update(responses="\n\n".join(blocks), n=str(len(group)), min=f"{o.scale_min:g}", max=f"{o.scale_max:g}")
        return prompting.messages(*prompting.render(self.prompt, **values))

    async def _judge_group(self, group: list[Sample], group_id: str, overrides: dict[str, Any] | None) -> list[Judgment]:
        o = self.options
        order = list(range(len(group)))
        if o.shuffle:
            random.Random(f"{o.shuffle_seed}:{group_id}").shuffle(order)
        judged = await self._verdict(
            self.build_messages(group, order), overrides, lambda text: parse_listwise(text, len(group), o.scale_min, o.scale_max),
            Judgment, "the group's scores", group_size=len(group), shown_order=[i + 1 for i in order],
        )
        if isinstance(judged, Judgment):  # the group's call or reading failed: every member fails with it
            return [replace(judged, meta=dict(judged.meta)) for _ in group]
        _, verdict, meta = judged
        transcript = meta.pop("tools", None)
        scores, ranking = verdict.value["scores"], verdict.value["ranking"]
        out: list[Judgment | None] = [None] * len(group)
        for shown, original in enumerate(order, start=1):
            raw = scores[shown - 1]
            rank = ranking.index(shown) + 1
            score = (raw - o.scale_min) / (o.scale_max - o.scale_min) if o.normalize else raw
            out[original] = Judgment(
                score=score,
                rationale=(
                    f"listwise judge: score {raw:g} on {o.scale_min:g}-{o.scale_max:g}"
                    + (" (spread evenly by rank: the judge gave a ranking, no scores)" if verdict.value["from_ranking"] else "")
                    + f", ranked {rank} of {len(group)} (shown as response {shown}). Critique: {shorten(verdict.critique) or '(no critique written)'}"
                ),
                details={"raw_score": raw, "rank": rank, "shown_as": shown, "critique": verdict.critique, "from_ranking": verdict.value["from_ranking"]},
                meta=meta,
            )
        return [with_transcript(j, transcript) for j in out if j is not None]
