"""Each benchmark's protocol as three steps: the units of work an item needs (responses to
score, or pairs to judge), the item's outcome from those units' results, and the metrics
from the outcomes. The scoring rules themselves live in ``scorers.py``.

Units are keyed ``ITEM_ID/ROLE`` so the per-sample log can be resumed; results are the
logged dicts (``Judgment.to_dict()`` or ``Preference.to_dict()``), so a fresh run and a
resumed run evaluate the very same data.

Modes: ``pointwise`` (a reward scores every response), ``pairwise`` (a comparator judges
pairs, in both orders), ``process`` (a reward predicts step labels), ``stored`` (scores
stored in the benchmark file, math-bon only).

Options a benchmark takes (``Protocol.options``, set with ``with_options``): JudgeBench's
``single_game`` (one game per pair, as its ``--single_game``). An aggregate may return
``notes`` (how a figure was computed, a figure the official code leaves undefined) and
``labels`` (what a metric key means where the name alone could mislead).

Position consistency, one definition for every pairwise protocol: among the pairs whose two
games both gave a verdict (A, B or tie), the fraction with the same pick in both orders (a
tie in both orders is consistent); a pair with an unparsed or failed game is left out.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from assay.bench import scorers
from assay.bench.items import (
    BestOfN,
    Candidates,
    Item,
    JudgedPair,
    LabeledPair,
    PreferencePair,
    ProcessItem,
    SampledSolutions,
    StyledPair,
)
from assay.types import Judgment, Pair, Preference, Sample, outcome

Result = dict[str, Any]


@dataclass
class Unit:
    key: str
    sample: Sample | None = None  # pointwise / process
    pair: Pair | None = None  # pairwise

    @property
    def kind(self) -> str:
        return "compare" if self.pair is not None else "score"


@dataclass
class Outcome:
    """One item's result: ``value`` is its credit in [0, 1] (None when a failure left it
    undecided); ``parts`` holds what the benchmark's aggregate needs; ``failures`` the kinds."""

    id: str
    subset: str
    value: float | None
    parts: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    consistent: bool | None = None  # pairwise: same verdict in both orders

    @property
    def valid(self) -> bool:
        return self.value is not None


class UnsupportedMode(ValueError):
    pass


# --- reading results ------------------------------------------------------------------------
def failure_kind(result: Result) -> str | None:
    """The failure kind of a logged result, ``abstained`` for a score of None without one."""
    if result.get("failure"):
        return result["failure"].get("kind", "internal")
    kind = outcome(Preference.from_dict(result) if "winner" in result else Judgment.from_dict(result))
    return None if kind == "scored" else kind


def score_of(result: Result) -> float | None:
    return None if failure_kind(result) else float(result["score"])


def _scores(results: dict[str, Result], keys: Sequence[str]) -> tuple[list[float] | None, list[str]]:
    kinds = [k for k in (failure_kind(results[key]) for key in keys) if k]
    if kinds:
        return None, kinds
    return [float(results[key]["score"]) for key in keys], []


def _sample(item_id: str, prompt: Any, response: str, **extra: Any) -> Sample:
    return Sample(prompt=prompt, response=response, id=item_id, extra=extra)


# --- the base protocol ----------------------------------------------------------------------
class Protocol:
    name = ""
    modes: tuple[str, ...] = ("pointwise",)
    needs_data = ""  # what --list says
    records_ties = False  # pointwise outcomes mark a score tie (parts["tie"]); else no tie rate is reported
    options: ClassVar[dict[str, Any]] = {}  # the benchmark's own options and their defaults (an instance's own after with_options)

    def with_options(self, **options: Any) -> Protocol:
        """A copy of this protocol with its options set (an unknown option is a ValueError)."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise ValueError(f"{self.name} has no option {', '.join(unknown)} (its options: {known})")
        configured = copy.copy(self)
        configured.options = {**self.options, **options}  # type: ignore[misc]  # per instance
        return configured

    def units(self, item: Item, mode: str) -> list[Unit]:
        raise NotImplementedError

    def outcome(self, item: Item, results: dict[str, Result], mode: str) -> Outcome:
        raise NotImplementedError

    def aggregate(self, outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
        """Metrics from outcomes: ``overall`` plus per-subset keys (fractions in [0, 1])."""
        return micro_by_subset(outcomes, exclude_failures)

    def score_roles(self, item: Item) -> list[tuple[str, str]]:
        """(unit key, 'chosen' or 'rejected') for score-distribution plots."""
        return []


def credit(outcome: Outcome, exclude_failures: bool) -> float | None:
    """An outcome's credit under the failure policy: a failure counts 0, or is left out."""
    if outcome.value is None:
        return None if exclude_failures else 0.0
    return outcome.value


def micro_by_subset(outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
    by_subset: dict[str, list[float]] = defaultdict(list)
    every: list[float] = []
    for o in outcomes:
        c = credit(o, exclude_failures)
        if c is not None:
            by_subset[o.subset].append(c)
            every.append(c)
    metrics: dict[str, Any] = {"overall": float(np.mean(every)) if every else None}
    for subset, values in sorted(by_subset.items()):
        metrics[subset] = float(np.mean(values))
    return metrics


def _two_response_units(
    item_id: str, prompt: Any, responses: tuple[Any, Any], mode: str, order_names: tuple[str, str], response_names: tuple[str, str]
) -> list[Unit]:
    """The units of an item with two responses: ``pairwise``, the pair in both orders (ids
    ``{item_id}/{order_names[k]}``, first as given, then swapped); else each response alone
    as a sample (ids ``{item_id}/{response_names[k]}``)."""
    first, second = responses
    if mode == "pairwise":
        return [
            Unit(f"{item_id}/{order_names[0]}", pair=Pair(prompt, first, second, id=item_id)),
            Unit(f"{item_id}/{order_names[1]}", pair=Pair(prompt, second, first, id=item_id)),
        ]
    return [Unit(f"{item_id}/{response_names[0]}", _sample(item_id, prompt, first)), Unit(f"{item_id}/{response_names[1]}", _sample(item_id, prompt, second))]


# --- pairs with one chosen and one rejected (RewardBench 1, RMB pairwise) --------------------
class PreferencePairs(Protocol):
    records_ties = True
    modes = ("pointwise", "pairwise")

    def units(self, item: Item, mode: str) -> list[Unit]:
        assert isinstance(item, PreferencePair)
        return _two_response_units(item.id, item.prompt, (item.chosen, item.rejected), mode, ("cr", "rc"), ("chosen", "rejected"))

    def score_roles(self, item: Item) -> list[tuple[str, str]]:
        return [(f"{item.id}/chosen", "chosen"), (f"{item.id}/rejected", "rejected")]

    def outcome(self, item: Item, results: dict[str, Result], mode: str) -> Outcome:
        assert isinstance(item, PreferencePair)
        if mode == "pairwise":
            return pairwise_outcome(item.id, item.subset, results[f"{item.id}/cr"], results[f"{item.id}/rc"], "a")
        scores, kinds = _scores(results, [f"{item.id}/chosen", f"{item.id}/rejected"])
        if scores is None:
            return Outcome(item.id, item.subset, None, failures=kinds)
        return Outcome(item.id, item.subset, float(scorers.pair_correct(scores[0], scores[1])), {"tie": scores[0] == scores[1]})


UNPARSED = ("parse", "abstained")  # a game that ended without a readable verdict


def pairwise_outcome(item_id: str, subset: str, first: Result, second: Result, better_in_first: str) -> Outcome:
    """A comparator's two verdicts: ``first`` on (A, B), ``second`` on (B, A). Credit = mean
    correctness of the two orders (a tie is wrong); consistent = same pick in both orders (tie
    and tie included); a game without a verdict makes the item invalid and counts under
    ``parts["unparsed_games"]``."""
    kinds = [k for k in (failure_kind(first), failure_kind(second)) if k]
    unparsed = sum(1 for k in kinds if k in UNPARSED)
    if kinds:
        return Outcome(item_id, subset, None, {"unparsed_games": unparsed, "games": 2}, failures=kinds)
    swap = {"a": "b", "b": "a", "tie": "tie"}
    pick1, pick2 = first["winner"], swap[second["winner"]]
    value = ((pick1 == better_in_first) + (pick2 == better_in_first)) / 2
    return Outcome(item_id, subset, value, {"verdicts": [pick1, pick2], "unparsed_games": 0, "games": 2}, consistent=pick1 == pick2)


def unparsed_games(outcomes: Sequence[Outcome]) -> dict[str, Any] | None:
    """Games that ended without a readable verdict (``parse`` failures, abstentions): count,
    games played and rate, overall and per subset; None when no outcome records games."""
    played = [o for o in outcomes if "games" in o.parts]
    if not played:
        return None

    def tally(group: Sequence[Outcome]) -> dict[str, Any]:
        count = sum(int(o.parts.get("unparsed_games", 0)) for o in group)
        games = sum(int(o.parts["games"]) for o in group)
        return {"count": count, "games": games, "rate": count / games if games else None}

    by_subset: dict[str, list[Outcome]] = defaultdict(list)
    for o in played:
        by_subset[o.subset].append(o)
    return {**tally(played), "by_subset": {s: tally(g) for s, g in sorted(by_subset.items())}}


class RewardBench(PreferencePairs):
    name = "rewardbench"
    needs_data = "rewardbench/*.{jsonl,json,parquet}: prompt, chosen, rejected, subset (RewardBench 1 'filtered' split)"
    labels: ClassVar[dict[str, str]] = {
        "overall": "mean of the 4 sections, a section without data at 0 (reward-bench's calculate_scores_per_section; the leaderboard's average)",
        "overall_present": "mean of the sections that have data",
    }

    def aggregate(self, outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
        subsets = micro_by_subset(outcomes, exclude_failures)
        subsets.pop("overall")
        sections = scorers.rewardbench_sections(subsets)
        absent = scorers.rewardbench_absent_sections(subsets)
        overall, present = sections.pop("overall", None), sections.pop("overall_present", None)
        notes = []
        if absent:
            notes.append(
                f"rewardbench: no subset of {', '.join(absent)} is present; reward-bench's calculate_scores_per_section scores such a "
                f"section 0, so the leaderboard's 4-section mean (overall) is {overall:.4f}; the mean over the sections with data "
                f"(overall_present) is {present if present is None else round(present, 4)}"
            )
        keyed = {k.lower().replace(" ", "_"): v for k, v in sections.items()}
        return {"overall": overall, "overall_present": present, **keyed, **subsets, "notes": notes, "labels": dict(self.labels)}


# --- RewardBench 2 and RMB best-of-N --------------------------------------------------------
class BestOfNProtocol(Protocol):
    def units(self, item: Item, mode: str) -> list[Unit]:
        assert isinstance(item, BestOfN)
        return [Unit(f"{item.id}/c{i}", _sample(item.id, item.prompt, r)) for i, r in enumerate(item.chosen)] + [
            Unit(f"{item.id}/r{i}", _sample(item.id, item.prompt, r)) for i, r in enumerate(item.rejected)
        ]

    def score_roles(self, item: Item) -> list[tuple[str, str]]:
        assert isinstance(item, BestOfN)
        return [(f"{item.id}/c{i}", "chosen") for i in range(len(item.chosen))] + [(f"{item.id}/r{i}", "rejected") for i in range(len(item.rejected))]

    def _scored(self, item: BestOfN, results: dict[str, Result]) -> tuple[list[float], list[float]] | list[str]:
        chosen, k1 = _scores(results, [f"{item.id}/c{i}" for i in range(len(item.chosen))])
        rejected, k2 = _scores(results, [f"{item.id}/r{i}" for i in range(len(item.rejected))])
        if chosen is None or rejected is None:
            return k1 + k2
        return chosen, rejected


class RewardBench2(BestOfNProtocol):
    name = "rewardbench2"
    needs_data = "rewardbench2/*.{jsonl,json,parquet}: id, prompt, chosen (list), rejected (list), subset; Ties ids 'ref:N'/'tied:N'"

    def outcome(self, item: Item, results: dict[str, Result], mode: str) -> Outcome:
        assert isinstance(item, BestOfN)
        scored = self._scored(item, results)
        if isinstance(scored, list):
            return Outcome(item.id, item.subset, None, failures=scored)
        chosen, rejected = scored
        if item.subset.lower() == "ties":
            accurate = min(chosen) > max(rejected)
            return Outcome(item.id, item.subset, float(accurate), {"chosen": chosen, "rejected": rejected})
        return Outcome(item.id, item.subset, scorers.best_of_n_credit(chosen[0], rejected, chosen[1:]))

    def aggregate(self, outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
        plain = [o for o in outcomes if o.subset.lower() != "ties"]
        metrics = micro_by_subset(plain, exclude_failures)
        metrics.pop("overall")
        ties = [o for o in outcomes if o.subset.lower() == "ties"]
        if ties:
            rows = []
            for o in ties:
                if o.value is not None:
                    rows.append((o.id, o.parts["chosen"], o.parts["rejected"]))
                elif not exclude_failures:  # a failed row counts as a wrong one: correct never above incorrect
                    rows.append((o.id, [0.0], [1.0]))
            metrics["ties"] = scorers.ties_score(rows)
        values = [v for v in metrics.values() if v is not None]
        return {"overall": float(np.mean(values)) if values else None, **metrics}


class RMB(Protocol):
    name = "rmb"
    modes = ("pointwise", "pairwise")
    needs_data = "rmb/**/*.json as in the RMB repo: Pairwise_set rows (pair_uid, chosen, reject) and BoN_set rows (bon_uid, bon_best, loser_list)"

    def __init__(self) -> None:
        self.pairs = PreferencePairs()
        self.bon = BestOfNProtocol()

    def units(self, item: Item, mode: str) -> list[Unit]:
        if isinstance(item, BestOfN):
            if mode == "pairwise":  # the best against each loser, both orders
                return [u for i, r in enumerate(item.rejected) for u in (
                    Unit(f"{item.id}/cr{i}", pair=Pair(item.prompt, item.chosen[0], r, id=item.id)),
                    Unit(f"{item.id}/rc{i}", pair=Pair(item.prompt, r, item.chosen[0], id=item.id)),
                )]
            return self.bon.units(item, mode)
        return self.pairs.units(item, mode)

    def score_roles(self, item: Item) -> list[tuple[str, str]]:
        return self.bon.score_roles(item) if isinstance(item, BestOfN) else self.pairs.score_roles(item)

    def outcome(self, item: Item, results: dict[str, Result], mode: str) -> Outcome:
        o = self._outcome(item, results, mode)
        o.parts["category_path"] = str(item.meta.get("category_path", o.subset))
        return o

    def _outcome(self, item: Item, results: dict[str, Result], mode: str) -> Outcome:
        if isinstance(item, PreferencePair):
            o = self.pairs.outcome(item, results, mode)
            o.parts["part"] = "pairwise"
            return o
        assert isinstance(item, BestOfN)
        if mode == "pairwise":
            games = [pairwise_outcome(item.id, item.subset, results[f"{item.id}/cr{i}"], results[f"{item.id}/rc{i}"], "a") for i in range(len(item.rejected))]
            kinds = [k for g in games for k in g.failures]
            tally = {"unparsed_games": sum(g.parts["unparsed_games"] for g in games), "games": 2 * len(games)}
            if kinds:
                return Outcome(item.id, item.subset, None, {"part": "bon", **tally}, kinds)
            return Outcome(item.id, item.subset, float(all(g.value == 1.0 for g in games)), {"part": "bon", **tally}, consistent=all(g.consistent for g in games))
        scored = self.bon._scored(item, results)
        if isinstance(scored, list):
            return Outcome(item.id, item.subset, None, {"part": "bon"}, scored)
        return Outcome(item.id, item.subset, float(scorers.all_beaten(scored[0][0], scored[1])), {"part": "bon"})

    AGGREGATION = (
        "rmb: each part's accuracy is the micro mean over its items, the two goals (helpfulness, harmlessness) pooled; "
        "'pairwise:<set>/<goal>' keys give each goal; best-of-N: an item is right only when the best response beats every loser "
        "(pairwise judges: wins both orders against every loser); overall = the unweighted mean of the pairwise and best-of-N "
        "parts present; per-category and per-scenario accuracies (RMB's own tables are per scenario) are under 'breakdown'"
    )

    @staticmethod
    def levels(category_path: str) -> tuple[str, str]:
        """(category, scenario) of an RMB ``category_path`` such as
        ``Pairwise_set/Helpfulness/Code/Code Generation``: the category is goal/level-3
        (``Helpfulness/Code``), the scenario the whole path below the set."""
        parts = [p for p in category_path.split("/") if p]
        below = parts[1:] if parts and parts[0].lower().endswith("_set") else parts
        category = "/".join(below[:2]) if below else category_path
        scenario = "/".join(below) if below else category_path
        return category, scenario

    def aggregate(self, outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        breakdown: dict[str, dict[str, dict[str, Any]]] = {}
        for part in ("pairwise", "bon"):
            chosen = [o for o in outcomes if o.parts.get("part") == part]
            if chosen:
                sub = micro_by_subset(chosen, exclude_failures)
                metrics[part] = sub.pop("overall")
                metrics.update({f"{part}:{k}": v for k, v in sub.items()})
                tables: dict[str, dict[str, list[float]]] = {"category": defaultdict(list), "scenario": defaultdict(list)}
                for o in chosen:
                    c = credit(o, exclude_failures)
                    if c is None:
                        continue
                    category, scenario = self.levels(o.parts.get("category_path", o.subset))
                    tables["category"][category].append(c)
                    tables["scenario"][scenario].append(c)
                breakdown[part] = {
                    level: {name: {"n": len(v), "accuracy": float(np.mean(v))} for name, v in sorted(table.items())} for level, table in tables.items()
                }
        parts = [metrics[p] for p in ("pairwise", "bon") if metrics.get(p) is not None]
        return {"overall": float(np.mean(parts)) if parts else None, **metrics, "breakdown": breakdown, "notes": [self.AGGREGATION]}


# --- labelled pairs in a fixed order (JudgeBench, LLMBar) -----------------------------------
class LabeledPairs(Protocol):
    records_ties = True
    modes = ("pointwise", "pairwise")

    def units(self, item: Item, mode: str) -> list[Unit]:
        assert isinstance(item, LabeledPair)
        return _two_response_units(item.id, item.prompt, (item.response_a, item.response_b), mode, ("ab", "ba"), ("a", "b"))

    def score_roles(self, item: Item) -> list[tuple[str, str]]:
        assert isinstance(item, LabeledPair)
        other = "b" if item.better == "a" else "a"
        return [(f"{item.id}/{item.better}", "chosen"), (f"{item.id}/{other}", "rejected")]


class LLMBar(LabeledPairs):
    name = "llmbar"
    needs_data = "llmbar/*.json: lists of {input, output_1, output_2, label 1|2}; one file per subset (natural, adversarial-*)"

    def outcome(self, item: Item, results: dict[str, Result], mode: str) -> Outcome:
        assert isinstance(item, LabeledPair)
        if mode == "pairwise":
            return pairwise_outcome(item.id, item.subset, results[f"{item.id}/ab"], results[f"{item.id}/ba"], item.better)
        scores, kinds = _scores(results, [f"{item.id}/a", f"{item.id}/b"])
        if scores is None:
            return Outcome(item.id, item.subset, None, failures=kinds)
        good, bad = (scores[0], scores[1]) if item.better == "a" else (scores[1], scores[0])
        return Outcome(item.id, item.subset, float(scorers.pair_correct(good, bad)), {"tie": good == bad})

    def aggregate(self, outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
        metrics = micro_by_subset(outcomes, exclude_failures)
        adversarial = [credit(o, exclude_failures) for o in outcomes if o.subset.startswith("adversarial")]
        adversarial = [c for c in adversarial if c is not None]
        if adversarial:
            metrics["adversarial"] = float(np.mean(adversarial))
        return metrics


class JudgeBench(LabeledPairs):
    name = "judgebench"
    needs_data = "judgebench/*.jsonl: pair_id, source, question, response_A, response_B, label (A>B|B>A)"
    options: ClassVar[dict[str, Any]] = {"single_game": False}

    def units(self, item: Item, mode: str) -> list[Unit]:
        units = super().units(item, mode)
        if self.options.get("single_game") and mode == "pairwise":
            return units[:1]  # the original order only (JudgeBench's --single_game)
        return units

    def outcome(self, item: Item, results: dict[str, Result], mode: str) -> Outcome:
        assert isinstance(item, LabeledPair)
        single = bool(self.options.get("single_game"))
        if mode == "pairwise":
            first = results[f"{item.id}/ab"]
            second = None if single else results[f"{item.id}/ba"]
            games = [first] if single else [first, second]
            kinds = [failure_kind(g) for g in games]
            # JudgeBench's own rule: an unparseable verdict is a game worth 0, and the pair is
            # still decided by the sum; a judge that could not answer at all fails the item
            hard = [k for k in kinds if k and k not in UNPARSED]
            tally = {"unparsed_games": sum(1 for k in kinds if k), "games": len(games)}
            if hard:
                return Outcome(item.id, item.subset, None, tally, failures=hard)
            game1 = None if kinds[0] else {"a": "A>B", "b": "B>A", "tie": None}[first["winner"]]
            if single:  # utils/metrics.py compute_final_metrics(reverse_order=False): decision == label
                return Outcome(item.id, item.subset, float(game1 == item.label_text), {"verdicts": [game1], **tally})
            assert second is not None
            game2 = None if kinds[1] else {"a": "B>A", "b": "A>B", "tie": None}[second["winner"]]  # first position is B in game 2
            correct = scorers.judgebench_correct(game1, game2, item.label_text)
            consistent = None
            if not kinds[0] and not kinds[1]:
                swap = {"a": "b", "b": "a", "tie": "tie"}
                consistent = first["winner"] == swap[second["winner"]]  # tie/tie is consistent (the module docstring)
            return Outcome(item.id, item.subset, float(correct), {"verdicts": [game1, game2], **tally}, consistent=consistent)
        scores, kinds = _scores(results, [f"{item.id}/a", f"{item.id}/b"])
        if scores is None:
            return Outcome(item.id, item.subset, None, failures=kinds)
        if single:  # utils/judges.py reward models: 'A>B' if score_A > score_B else 'B>A', one game
            verdict = scorers.scalar_verdict(scores[0], scores[1])
            return Outcome(item.id, item.subset, float(verdict == item.label_text), {"tie": scores[0] == scores[1]})
        return Outcome(item.id, item.subset, float(scorers.judgebench_scalar_correct(scores[0], scores[1], item.better)), {"tie": scores[0] == scores[1]})

    def aggregate(self, outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
        metrics = micro_by_subset(outcomes, exclude_failures)
        games = "one game per pair (--single_game: the original order only)" if self.options.get("single_game") else "two games per pair, (A, B) and swapped"
        return {**metrics, "notes": [f"judgebench: {games}"]}


# --- RM-Bench -------------------------------------------------------------------------------
class RMBench(Protocol):
    name = "rm-bench"
    needs_data = "rm-bench/{chat,code,math,safety-refuse,safety-response}.json: id, prompt, chosen[3], rejected[3] (concise, detailed plain, detailed markdown)"

    def units(self, item: Item, mode: str) -> list[Unit]:
        assert isinstance(item, StyledPair)
        return [Unit(f"{item.id}/c{i}", _sample(item.id, item.prompt, r)) for i, r in enumerate(item.chosen)] + [
            Unit(f"{item.id}/r{i}", _sample(item.id, item.prompt, r)) for i, r in enumerate(item.rejected)
        ]

    def score_roles(self, item: Item) -> list[tuple[str, str]]:
        return [(f"{item.id}/c{i}", "chosen") for i in range(3)] + [(f"{item.id}/r{i}", "rejected") for i in range(3)]

    def outcome(self, item: Item, results: dict[str, Result], mode: str) -> Outcome:
        assert isinstance(item, StyledPair)
        chosen, k1 = _scores(results, [f"{item.id}/c{i}" for i in range(3)])
        rejected, k2 = _scores(results, [f"{item.id}/r{i}" for i in range(3)])
        if chosen is None or rejected is None:
            return Outcome(item.id, item.domain, None, {"domain": item.domain}, k1 + k2)
        matrix = scorers.rmbench_matrix(chosen, rejected)
        return Outcome(item.id, item.domain, float(matrix.mean()), {"domain": item.domain, "matrix": matrix.tolist()})

    def aggregate(self, outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
        by_domain: dict[str, list[np.ndarray]] = defaultdict(list)
        for o in outcomes:
            if o.value is not None:
                by_domain[o.subset].append(np.asarray(o.parts["matrix"]))
            elif not exclude_failures:
                by_domain[o.subset].append(np.zeros((3, 3)))  # every comparison of a failed prompt counts as lost
        summary = scorers.rmbench_summary(by_domain)
        metrics: dict[str, Any] = {k: summary[k] for k in ("overall", "easy", "normal", "hard")}
        for domain, levels in sorted(summary["domains"].items()):
            metrics[domain] = levels["overall"]
            for level in ("easy", "normal", "hard"):
                metrics[f"{domain}:{level}"] = levels[level]
        return metrics


# --- ProcessBench and PRMBench --------------------------------------------------------------
def step_prediction(result: Result, threshold: float = 0.5, valid_above: bool = False) -> tuple[int | None, list[float] | None]:
    """(first-error index, step scores) from a process reward's logged judgment: its details'
    ``first_error`` (int, -1 for none) or ``step_scores`` (a step below ``threshold`` is wrong;
    with ``valid_above``, one not above it), looked up on the judgment and then on its
    components (a config's composed reward)."""
    candidates = [result.get("details") or {}]
    candidates += [v.get("details") or {} for v in (result.get("details") or {}).values() if isinstance(v, dict)]
    for details in candidates:
        scores = details.get("step_scores")
        first = details.get("first_error")
        first = int(first) if isinstance(first, int) and not isinstance(first, bool) else None
        if isinstance(scores, list) and all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores):
            if valid_above or first is None:  # PRMBench: its own validity rule (> threshold), as prm_score reads it
                first = scorers.first_error_from_step_scores(scores, threshold, valid_above)
            return first, [float(s) for s in scores]
        if first is not None:
            if isinstance(scores, list) and None in scores[: len(scores) if first < 0 else first]:
                return None, None  # a step before the predicted error (or any, for "no error") was not judged: no prediction
            return first, None
    return None, None


def scored_step_prefix(result: Result) -> list[float] | None:
    """The scored steps of a partial result: its ``step_scores`` when they are numbers
    followed by unscored (``None``) steps only, as a PRM with ``too_long: unscored`` or a
    first-error judge gives them; None for a complete or an unscored result."""
    candidates = [result.get("details") or {}]
    candidates += [v.get("details") or {} for v in (result.get("details") or {}).values() if isinstance(v, dict)]
    for details in candidates:
        scores = details.get("step_scores")
        if not isinstance(scores, list) or None not in scores:
            continue
        cut = scores.index(None)
        head, tail = scores[:cut], scores[cut:]
        if head and all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in head) and all(s is None for s in tail):
            return [float(s) for s in head]
        return None
    return None


def _undefined(value: float | None) -> bool:
    return value is not None and math.isnan(value)


class ProcessBench(Protocol):
    name = "processbench"
    modes = ("process",)
    needs_data = "processbench/{gsm8k,math,olympiadbench,omnimath}.{json,jsonl}: id, problem, steps, label (first wrong step, -1 none)"
    threshold = 0.5
    valid_above = False  # a step is right at score >= threshold; PRMBench: only above it

    def units(self, item: Item, mode: str) -> list[Unit]:
        assert isinstance(item, ProcessItem)
        sample = Sample(prompt=item.problem, response="\n\n".join(item.steps), id=item.id, steps=list(item.steps))
        return [Unit(f"{item.id}/steps", sample)]

    def outcome(self, item: Item, results: dict[str, Result], mode: str) -> Outcome:
        assert isinstance(item, ProcessItem)
        result = results[f"{item.id}/steps"]
        kind = failure_kind(result) if result.get("failure") else None
        past_end = item.label >= len(item.steps)  # PRMBench: the first error lies past the last step
        parts: dict[str, Any] = {"label": item.label, "error_steps": item.error_steps, "n_steps": len(item.steps), "past_end": past_end}
        if kind:
            return Outcome(item.id, item.subset, None, parts, [kind])
        prefix = scored_step_prefix(result)
        if prefix is not None and len(prefix) < len(item.steps):
            parts["scored_prefix"] = prefix  # a partial result: PRMBench's prm_score reads the steps it scored
        first, step_scores = step_prediction(result, self.threshold, self.valid_above)
        if first is None:
            return Outcome(item.id, item.subset, None, parts, ["input"])  # the reward gave no step-level prediction
        if step_scores is not None and len(step_scores) != len(item.steps):
            return Outcome(item.id, item.subset, None, parts, ["input"])  # unscored steps could hold the error
        parts.update(pred=first, step_scores=step_scores)
        # past the end, the steps given hold no error: -1 is the right reading of them
        return Outcome(item.id, item.subset, float(first == (-1 if past_end else item.label)), parts)

    @staticmethod
    def _pairs(outcomes: Sequence[Outcome], exclude_failures: bool) -> tuple[list[int], list[int]]:
        preds, labels = [], []
        for o in outcomes:
            if o.parts.get("past_end"):
                continue  # no first-error index to match: left out of the F1 (the loader's note says so)
            if o.value is None and exclude_failures:
                continue
            preds.append(o.parts["pred"] if o.value is not None else -2)  # -2: a failure matches no label
            labels.append(o.parts["label"])
        return preds, labels

    def aggregate(self, outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
        """Per subset the two accuracies and their F1, ``overall`` = the mean of the subsets'
        F1, as ProcessBench's code computes them. A figure the official code makes NaN (both
        accuracies 0: 0/0, and then the mean) is reported as None (JSON null) and named in
        ``notes``; a subset missing one side (no erroneous or no correct solution) has no F1
        and is left out of the mean, also noted."""
        metrics: dict[str, Any] = {}
        notes: list[str] = []
        by_subset: dict[str, list[Outcome]] = defaultdict(list)
        for o in outcomes:
            by_subset[o.subset].append(o)
        f1s = []
        for subset, group in sorted(by_subset.items()):
            acc = scorers.processbench_accuracies(*self._pairs(group, exclude_failures))
            f1 = acc["f1"]
            if _undefined(f1):
                notes.append(f"{self.name}: {subset}: both accuracies are 0, so the official F1 is 0/0 = NaN; reported as null")
            elif f1 is None:
                notes.append(f"{self.name}: {subset}: no {'correct' if acc['acc_correct'] is None else 'erroneous'} solution, so no F1; left out of the mean")
            metrics[subset] = None if _undefined(f1) else f1
            metrics[f"{subset}:acc_error"], metrics[f"{subset}:acc_correct"] = acc["acc_error"], acc["acc_correct"]
            if f1 is not None:
                f1s.append(f1)
        overall = float(np.mean(f1s)) if f1s else None
        if _undefined(overall):
            notes.append(f"{self.name}: the mean F1 is NaN in the official code (a subset's F1 is 0/0); overall reported as null")
            overall = None
        return {"overall": overall, **metrics, "notes": notes}


class PRMBench(ProcessBench):
    name = "prmbench"
    needs_data = ("prmbench/*.jsonl (every file, as PRMBench's own evaluation; --prmbench-files test for the 17 test files): "
                  "original_process, modified_process, error_steps (1-based), classification, idx")
    valid_above = True  # ssmisya/PRMBench: step_level_validity_labels = [score > 0.5 ...]
    labels: ClassVar[dict[str, str]] = {
        "overall": "first-error F1 in ProcessBench form: assay's own conversion of PRMBench, not an official PRMBench figure",
        "prm_score": "PRMScore, PRMBench's official metric: 0.5 F1(valid steps) + 0.5 F1(invalid steps), a step valid at score > 0.5",
    }

    def aggregate(self, outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
        """``overall`` (assay's conversion, labelled so): F1 of the first-error index over all
        solutions; per error type, the accuracy on its modified solutions and the F1 with the
        shared accuracy on correct solutions. ``prm_score`` (official, ssmisya/PRMBench
        ``mr_eval/tasks/prmtest_classified/task.py: evaluate_function``): over the modified
        solutions' steps (not the correct originals), a step valid at score > 0.5; per type
        ``<type>:prm_score``."""
        notes: list[str] = []
        pooled = scorers.processbench_accuracies(*self._pairs(outcomes, exclude_failures))
        overall = pooled["f1"]
        if _undefined(overall):
            notes.append("prmbench: both first-error accuracies are 0, so the converted F1 is 0/0 = NaN; overall reported as null")
            overall = None
        metrics: dict[str, Any] = {"overall": overall, "acc_error": pooled["acc_error"], "acc_correct": pooled["acc_correct"]}
        by_subset: dict[str, list[Outcome]] = defaultdict(list)
        for o in outcomes:
            by_subset[o.subset].append(o)
        for subset, group in sorted(by_subset.items()):
            acc = scorers.processbench_accuracies(*self._pairs(group, exclude_failures))
            if acc["acc_error"] is not None and pooled["acc_correct"] is not None:
                a, b = acc["acc_error"], pooled["acc_correct"]
                metrics[subset] = None if a + b == 0 else 2 * a * b / (a + b)
                metrics[f"{subset}:acc_error"] = a
            elif acc["acc_correct"] is not None:
                metrics[f"{subset}:acc_correct"] = acc["acc_correct"]
        steps: dict[str, tuple[list[bool], list[bool]]] = defaultdict(lambda: ([], []))
        index_only = 0
        partial = 0
        for o in outcomes:
            if o.subset == "original" or o.parts.get("error_steps") is None:
                continue
            errors = set(o.parts["error_steps"])
            pred_steps, gold_steps = steps[o.subset]
            if o.parts.get("scored_prefix") is not None and o.parts.get("step_scores") is None:
                # a partial result (a PRM's steps past its max_length): PRMBench's code scores the labels a model
                # gives (range(len(labels))), so its scored steps count and the unscored ones do not
                prefix = o.parts["scored_prefix"]
                pred_steps += [scorers.prmbench_step_valid(s, self.threshold) for s in prefix]
                gold_steps += [i not in errors for i in range(len(prefix))]
                partial += 1
                continue
            if o.value is None:
                if not exclude_failures:  # a failure counts as every step judged wrongly
                    pred_steps += [i in errors for i in range(o.parts["n_steps"])]
                    gold_steps += [i not in errors for i in range(o.parts["n_steps"])]
                continue
            if o.parts.get("step_scores") is None:
                index_only += 1  # a first-error index without step scores: nothing for the step-level F1
                continue
            scores = o.parts["step_scores"]
            pred_steps += [scorers.prmbench_step_valid(s, self.threshold) for s in scores]  # one score per step (outcome() checks it)
            gold_steps += [i not in errors for i in range(len(scores))]  # error steps past the end are never reached, as officially
        if index_only:
            notes.append(
                f"prmbench: {index_only} modified solution(s) were predicted as a first-error index without step scores; "
                "prm_score reads step scores, so they are left out of it (they count in overall)"
            )
        if partial:
            unscored = sum(1 for o in outcomes if o.parts.get("scored_prefix") is not None and o.value is None)
            notes.append(f"prmbench: {partial} modified solution(s) were scored in part (their last steps unscored, e.g. past a PRM's max_length): "
                         "prm_score reads their scored steps, as PRMBench's code reads the labels a model returns; in the first-error F1, "
                         f"{unscored} of all partial results have no scored step below the threshold and so no prediction (counted as invalid)")
        every_pred = [p for pred, _ in steps.values() for p in pred]
        every_gold = [g for _, gold in steps.values() for g in gold]
        if every_pred:
            pooled_score = scorers.prm_score(every_pred, every_gold)
            official = pooled_score.pop("official_prm_score")
            metrics.update(pooled_score)
            if pooled_score["prm_score"] is None:
                notes.append(
                    "prmbench: a step class has no true positive, so its F1 is undefined: prm_score is null; PRMBench's code marks it -1 "
                    f"and prints PRMScore {official:.4f}"
                )
            for subset, (pred, gold) in sorted(steps.items()):
                if pred:
                    metrics[f"{subset}:prm_score"] = scorers.prm_score(pred, gold)["prm_score"]
        return {**metrics, "notes": notes, "labels": dict(self.labels)}


# --- best-of-N math -------------------------------------------------------------------------
class MathBestOfN(Protocol):
    name = "math-bon"
    modes = ("pointwise", "stored")
    needs_data = "math-bon/*.jsonl (shape of Qwen2.5-Math math_cot_100.jsonl): question, response[N], pred[N], score[N] (bool), pred_score[N] (optional)"

    def units(self, item: Item, mode: str) -> list[Unit]:
        assert isinstance(item, SampledSolutions)
        if mode == "stored":
            return []
        return [Unit(f"{item.id}/s{i}", Sample(prompt=item.prompt, response=r, id=item.id, reference=item.meta.get("gt"))) for i, r in enumerate(item.responses)]

    def score_roles(self, item: Item) -> list[tuple[str, str]]:
        assert isinstance(item, SampledSolutions)
        return [(f"{item.id}/s{i}", "chosen" if c else "rejected") for i, c in enumerate(item.correct)]

    def outcome(self, item: Item, results: dict[str, Result], mode: str) -> Outcome:
        assert isinstance(item, SampledSolutions)
        baselines = {
            "majority_vote": float(scorers.majority_vote(item.answers, item.correct)),
            "any_of_n": float(scorers.any_correct(item.correct)),
            "mean_sample": scorers.mean_correct(item.correct),
        }
        if mode == "stored":
            if item.stored_scores is None:
                return Outcome(item.id, item.subset, None, baselines, ["input"])
            scores: list[float] | None = item.stored_scores
            kinds: list[str] = []
        else:
            scores, kinds = _scores(results, [f"{item.id}/s{i}" for i in range(len(item.responses))])
        if scores is None:
            return Outcome(item.id, item.subset, None, baselines, kinds)
        return Outcome(item.id, item.subset, scorers.select_by_score(scores, item.correct), baselines)

    def aggregate(self, outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
        metrics = micro_by_subset(outcomes, exclude_failures)
        for key in ("majority_vote", "any_of_n", "mean_sample"):
            metrics[key] = float(np.mean([o.parts[key] for o in outcomes])) if outcomes else None
        return metrics


# --- your own data: pairs with ties (Auto-J, PandaLM conventions) and best-of-N ---------------
CLASSES = ("a", "b", "tie")
TIE_CONVENTIONS = ("three_class", "threshold", "majority")


def three_class_pick(score_a: float, score_b: float, threshold: float) -> str:
    """A scalar reward's verdict on a pair: tie when |score_a - score_b| <= threshold."""
    if abs(score_a - score_b) <= threshold:
        return "tie"
    return "a" if score_a > score_b else "b"


def macro_prf(labels: Sequence[str], preds: Sequence[str | None]) -> dict[str, Any]:
    """Accuracy and macro precision, recall and F1 over the classes that occur among the
    labels or the predictions (a class never predicted has precision 0), as scikit-learn's
    ``precision_recall_fscore_support(average="macro")`` with ``zero_division=0``, which
    PandaLM's evaluation calls. A failed row's prediction is None: a miss for its label's
    recall, no class's prediction."""
    classes = [c for c in CLASSES if c in labels or c in preds]
    per_class: dict[str, dict[str, float]] = {}
    for c in classes:
        tp = sum(1 for y, p in zip(labels, preds) if y == c and p == c)
        predicted = sum(1 for p in preds if p == c)
        actual = sum(1 for y in labels if y == c)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    mean = lambda key: float(np.mean([v[key] for v in per_class.values()])) if per_class else None  # noqa: E731
    accuracy = sum(1 for y, p in zip(labels, preds) if y == p) / len(labels) if labels else None
    return {"accuracy": accuracy, "precision": mean("precision"), "recall": mean("recall"), "f1": mean("f1"), "per_class": per_class}


def confusion(labels: Sequence[str], preds: Sequence[str | None]) -> dict[str, dict[str, int]]:
    """label -> prediction -> count (``failed`` for a row without a prediction)."""
    table: dict[str, dict[str, int]] = {c: {} for c in CLASSES if c in labels}
    for y, p in zip(labels, preds):
        key = p or "failed"
        table[y][key] = table[y].get(key, 0) + 1
    return table


def dev_split(item_id: str, fraction: float) -> bool:
    """Whether an item without a ``split`` field falls in the dev split: a hash of its id, so
    the split does not depend on the order of the file or on a seed."""
    import hashlib

    return int(hashlib.sha1(item_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


class OwnPairs(Protocol):
    """``assay bench pairs --data FILE``: your pairs, labelled a, b or tie, by one of three
    tie conventions (option ``ties``):

    - ``three_class`` (Auto-J's pairwise protocol): the tie is a third class; agreement is
      over all rows, ties included. A scalar reward says tie when the two scores are within
      ``tie_threshold`` (default 0: equal).
    - ``threshold`` (Auto-J's protocol for scalar reward models): the tie threshold on
      |score_a - score_b| is searched on the dev split (maximum dev agreement, the smallest
      threshold among equals; candidates 0 and every |difference| seen on dev) and agreement
      is reported on the test split. Rows go to dev by their ``split`` field, else by a hash
      of their id (``dev_fraction``).
    - ``majority`` (PandaLM): the label is the annotators' majority (the loader's
      ``annotators``); accuracy and macro precision, recall and F1 over the classes.

    A comparator judges each pair in both orders (``single_game``: the given order only);
    the row's verdict is the pick of both orders when they agree, a tie when they do not.
    A failed row counts as wrong (``exclude_failures``: left out).
    """

    name = "pairs"
    modes = ("pointwise", "pairwise")
    needs_data = "--data FILE: prompt, response_a, response_b, label (a/b/tie; --field and --label-map rename and map)"
    records_ties = True
    options: ClassVar[dict[str, Any]] = {"ties": "three_class", "tie_threshold": 0.0, "dev_fraction": 0.2, "single_game": False}

    def with_options(self, **options: Any) -> Protocol:
        configured = super().with_options(**options)
        o = configured.options
        if o["ties"] not in TIE_CONVENTIONS:
            raise ValueError(f"pairs: ties must be one of {', '.join(TIE_CONVENTIONS)}, got {o['ties']!r}")
        if not 0 < float(o["dev_fraction"]) < 1:
            raise ValueError(f"pairs: dev_fraction must be between 0 and 1, got {o['dev_fraction']!r}")
        if float(o["tie_threshold"]) < 0:
            raise ValueError(f"pairs: tie_threshold must be >= 0, got {o['tie_threshold']!r}")
        return configured

    def units(self, item: Item, mode: str) -> list[Unit]:
        assert isinstance(item, JudgedPair)
        if mode == "pairwise" and self.options["ties"] == "threshold":
            raise UnsupportedMode("pairs: the threshold convention searches a threshold on score differences; it needs a scalar reward, not a comparator")
        units = _two_response_units(item.id, item.prompt, (item.response_a, item.response_b), mode, ("ab", "ba"), ("a", "b"))
        return units[:1] if mode == "pairwise" and self.options["single_game"] else units

    def score_roles(self, item: Item) -> list[tuple[str, str]]:
        assert isinstance(item, JudgedPair)
        if item.label == "tie":
            return []
        better, worse = ("a", "b") if item.label == "a" else ("b", "a")
        return [(f"{item.id}/{better}", "chosen"), (f"{item.id}/{worse}", "rejected")]

    def outcome(self, item: Item, results: dict[str, Result], mode: str) -> Outcome:
        assert isinstance(item, JudgedPair)
        split = item.split or ("dev" if dev_split(item.id, float(self.options["dev_fraction"])) else "test")
        parts: dict[str, Any] = {"label": item.label, "split": split}
        subset = split if self.options["ties"] == "threshold" else item.subset
        if mode == "pairwise":
            keys = [f"{item.id}/ab"] + ([] if self.options["single_game"] else [f"{item.id}/ba"])
            kinds = [k for k in (failure_kind(results[key]) for key in keys) if k]
            parts.update(games=len(keys), unparsed_games=sum(1 for k in kinds if k in UNPARSED))
            if kinds:
                return Outcome(item.id, subset, None, {**parts, "pred": None}, failures=kinds)
            first = results[keys[0]]["winner"]
            if len(keys) == 1:
                pick, consistent = first, None
            else:
                second = {"a": "b", "b": "a", "tie": "tie"}[results[keys[1]]["winner"]]
                pick, consistent = (first if first == second else "tie"), first == second
                parts["verdicts"] = [first, second]
            parts["pred"] = pick
            return Outcome(item.id, subset, float(pick == item.label), parts, consistent=consistent)
        scores, kinds = _scores(results, [f"{item.id}/a", f"{item.id}/b"])
        if scores is None:
            return Outcome(item.id, subset, None, {**parts, "pred": None}, failures=kinds)
        threshold = 0.0 if self.options["ties"] == "threshold" else float(self.options["tie_threshold"])
        pick = three_class_pick(scores[0], scores[1], threshold)
        parts.update(score_a=scores[0], score_b=scores[1], diff=scores[0] - scores[1], pred=pick, tie=scores[0] == scores[1])
        return Outcome(item.id, subset, float(pick == item.label), parts)

    def aggregate(self, outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
        kept = [o for o in outcomes if o.valid or not exclude_failures]
        convention = self.options["ties"]
        if convention == "threshold":
            return self._threshold(kept)
        labels = [o.parts["label"] for o in kept]
        preds = [o.parts.get("pred") for o in kept]
        base = micro_by_subset(kept, exclude_failures)
        label_counts = {c: labels.count(c) for c in CLASSES}
        if convention == "majority":
            prf = macro_prf(labels, preds)
            note = ("pairs (majority, PandaLM): the label is the annotators' majority; accuracy and macro precision/recall/F1 over the "
                    "classes present (scikit-learn's macro average, zero_division=0); a failed row is a miss for its label's recall")
            return {"overall": prf["accuracy"], "precision": prf["precision"], "recall": prf["recall"], "f1": prf["f1"], **{k: v for k, v in base.items() if k != "overall"},
                    "per_class": prf["per_class"], "confusion": confusion(labels, preds), "label_counts": label_counts, "notes": [note],
                    "labels": {"overall": "accuracy against the majority label, ties a class"}}
        non_tie = [o for o in kept if o.parts["label"] != "tie"]
        note = "pairs (three_class, Auto-J): agreement over all rows, the tie a third class" + (
            f"; a scalar reward says tie within {float(self.options['tie_threshold']):g} of the other score" if outcomes and "diff" in outcomes[0].parts else
            "; a comparator's row verdict is its pick in both orders when they agree, else a tie")
        return {**base, "agreement_without_tie_labels": float(np.mean([credit(o, exclude_failures) or 0.0 for o in non_tie])) if non_tie else None,
                "confusion": confusion(labels, preds), "label_counts": label_counts, "notes": [note],
                "labels": {"overall": "three-class agreement over all rows (ties included)"}}

    def _threshold(self, kept: Sequence[Outcome]) -> dict[str, Any]:
        dev = [o for o in kept if o.parts["split"] == "dev"]
        test = [o for o in kept if o.parts["split"] == "test"]
        if not dev or not test:
            raise ValueError(f"pairs (threshold): needs rows in both splits; dev has {len(dev)}, test {len(test)} (set a split field or dev_fraction)")
        threshold, dev_agreement = search_tie_threshold([(o.parts.get("diff"), o.parts["label"]) for o in dev])
        picks = [None if o.parts.get("diff") is None else three_class_pick(o.parts["diff"], 0.0, threshold) for o in test]
        labels = [o.parts["label"] for o in test]
        agreement = sum(1 for p, y in zip(picks, labels) if p == y) / len(test)
        note = (f"pairs (threshold, Auto-J's reward-model protocol): tie when |score_a - score_b| <= {threshold:.6g}, the threshold with the "
                f"highest agreement on the {len(dev)} dev rows ({dev_agreement:.4f}); overall is the agreement on the {len(test)} test rows. "
                "The subsets table gives exact-tie (threshold 0) accuracies per split")
        return {"overall": agreement, "dev_agreement": dev_agreement, "tie_threshold": threshold, "n_dev": len(dev), "n_test": len(test),
                "confusion": confusion(labels, picks), "notes": [note], "labels": {"overall": "three-class agreement on the test split at the dev-searched tie threshold"}}


def search_tie_threshold(rows: Sequence[tuple[float | None, str]]) -> tuple[float, float]:
    """(threshold, agreement): the tie threshold t on |diff| (tie when |diff| <= t) that
    maximises agreement with the labels, the smallest t among equals; the candidates are 0 and
    every |diff| (agreement only changes there). A row without a diff (failed) is always wrong.
    One sweep over the rows sorted by |diff|: O(n log n)."""
    scored = sorted((abs(d), d, y) for d, y in rows if d is not None)
    # at t below every |diff|: a row is right when its sign matches a non-tie label (diff 0 is a tie at t = 0)
    right = sum(1 for _, d, y in scored if d != 0 and (y == ("a" if d > 0 else "b")))
    right += sum(1 for _, d, y in scored if d == 0 and y == "tie")
    best_t, best_right = 0.0, right
    i = 0
    while i < len(scored) and scored[i][0] == 0.0:
        i += 1
    while i < len(scored):
        t = scored[i][0]
        while i < len(scored) and scored[i][0] == t:  # these rows turn into ties at t
            _, d, y = scored[i]
            right += (y == "tie") - (y == ("a" if d > 0 else "b"))
            i += 1
        if right > best_right:
            best_t, best_right = t, right
    return best_t, best_right / len(rows)


class OwnBestOfN(Protocol):
    """``assay bench bon --data FILE``: your N responses per prompt and which are correct.
    ``overall`` is best-of-N accuracy (the correctness of the top-scored response; k tied at
    the top: their mean correctness), beside the baselines ``any_of_n`` (an oracle pick) and
    ``mean_sample`` (a random pick), and ``separation``: the fraction of prompts with both
    kinds whose every correct response scores above every incorrect one."""

    name = "bon"
    modes = ("pointwise",)
    needs_data = "--data FILE: prompt, responses (list), correct (booleans, or indices of the correct responses)"

    def units(self, item: Item, mode: str) -> list[Unit]:
        assert isinstance(item, Candidates)
        return [Unit(f"{item.id}/s{i}", _sample(item.id, item.prompt, r)) for i, r in enumerate(item.responses)]

    def score_roles(self, item: Item) -> list[tuple[str, str]]:
        assert isinstance(item, Candidates)
        return [(f"{item.id}/s{i}", "chosen" if c else "rejected") for i, c in enumerate(item.correct)]

    def outcome(self, item: Item, results: dict[str, Result], mode: str) -> Outcome:
        assert isinstance(item, Candidates)
        parts: dict[str, Any] = {"any_of_n": float(any(item.correct)), "mean_sample": scorers.mean_correct(item.correct)}
        scores, kinds = _scores(results, [f"{item.id}/s{i}" for i in range(len(item.responses))])
        if scores is None:
            return Outcome(item.id, item.subset, None, parts, kinds)
        good = [s for s, c in zip(scores, item.correct) if c]
        bad = [s for s, c in zip(scores, item.correct) if not c]
        parts["separated"] = (min(good) > max(bad)) if good and bad else None
        parts["picked"] = int(np.argmax(scores))
        return Outcome(item.id, item.subset, scorers.select_by_score(scores, item.correct), parts)

    def aggregate(self, outcomes: Sequence[Outcome], exclude_failures: bool) -> dict[str, Any]:
        metrics = micro_by_subset(outcomes, exclude_failures)
        for key in ("any_of_n", "mean_sample"):
            metrics[key] = float(np.mean([o.parts[key] for o in outcomes])) if outcomes else None
        both = [o for o in outcomes if o.parts.get("separated") is not None or (o.value is None and not exclude_failures)]
        metrics["separation"] = float(np.mean([bool(o.parts.get("separated")) for o in both])) if both else None
        return {**metrics, "notes": ["bon: overall = best-of-N accuracy (ties at the top: mean correctness of the tied); separation over prompts with both correct and "
            "incorrect responses, a failed prompt not separated"]}


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    RewardBench(), RewardBench2(), RMBench(), JudgeBench(), LLMBar(), RMB(), ProcessBench(), PRMBench(), MathBestOfN(),
    OwnPairs(), OwnBestOfN(),
)}
