"""Explicit contracts instead of attribute probing: pairwise is a property of the base class,
identity() decides the resume hash, Vote/Ensemble are one factory over a reward class and a
comparator class, comparator failures keep their tracebacks, and the TRL adapter reads the
composite's terms from the composite."""

from __future__ import annotations

import asyncio
import pickle

import pytest

from assay.integrations import trl
from assay.reward import Comparator, Reward, ScoreComparator, reward
from assay.rewards.judges.wrappers import ComparatorEnsemble, ComparatorVote, Ensemble, RewardEnsemble, RewardVote, Swap, Vote
from assay.rewards.rules.match import ExactMatch
from assay.types import Judgment, Pair, Preference, Sample


class AlwaysA(Comparator):
    def compare_batch(self, pairs):
        return [Preference(winner="a", rationale="a") for _ in pairs]


class Exploding(Comparator):
    def compare_batch(self, pairs):
        raise RuntimeError("the judge fell over")


class Constant(Reward):
    def __init__(self, value: float, name: str | None = None) -> None:
        super().__init__(name or f"c{value}")
        self.value = value

    def score_one(self, sample):
        return Judgment(self.value, "constant")


def test_pairwise_is_a_property_of_the_base_class() -> None:
    assert Reward.pairwise is False and Comparator.pairwise is True
    assert not ExactMatch().pairwise and AlwaysA().pairwise and ScoreComparator(ExactMatch()).pairwise


def test_vote_is_one_factory_over_two_classes() -> None:
    on_rewards = Vote(ExactMatch(), k=1)
    on_pairs = Vote(AlwaysA(), k=1)
    assert type(on_rewards) is RewardVote and isinstance(on_rewards, Vote) and isinstance(on_rewards, Reward) and not isinstance(on_rewards, Comparator)
    assert type(on_pairs) is ComparatorVote and isinstance(on_pairs, Vote) and isinstance(on_pairs, Comparator) and not isinstance(on_pairs, Reward)
    assert not hasattr(on_rewards, "compare") and not hasattr(on_pairs, "score")
    assert on_rewards.score([Sample(response="x", reference="x")])[0].score == 1.0
    assert on_pairs.compare([Pair("q", "x", "y")])[0].winner == "a"
    with pytest.raises(TypeError, match="RewardVote wraps rewards"):
        RewardVote(AlwaysA(), k=1)
    restored = pickle.loads(pickle.dumps(on_rewards))
    assert type(restored) is RewardVote and restored.options.k == 1


def test_ensemble_is_one_factory_over_two_classes() -> None:
    assert type(Ensemble([Constant(1.0), Constant(0.0)])) is RewardEnsemble
    assert type(Ensemble({"x": AlwaysA(), "y": Vote(AlwaysA(), k=1)})) is ComparatorEnsemble
    with pytest.raises(ValueError, match="all rewards or all comparators"):
        Ensemble([Constant(1.0), AlwaysA()])
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])
    with pytest.raises(ValueError, match="all rewards or all comparators"):
        RewardEnsemble([AlwaysA()])


def test_identity_is_a_method_that_sees_what_is_wrapped() -> None:
    @reward
    def longer(response):
        return float(len(response))

    @reward(name="longer")
    def other(response):
        return -float(len(response))

    assert longer.identity() != other.identity()  # same name, different source
    assert ExactMatch(normalize=True).identity() != ExactMatch(normalize=False).identity()
    assert Swap(Vote(AlwaysA(), k=1)).identity() != Swap(Vote(AlwaysA(), k=3)).identity()
    assert Ensemble([Constant(1.0, "a"), longer]).identity() != Ensemble([Constant(1.0, "a"), other]).identity()
    assert ScoreComparator(longer).identity().endswith(longer.identity())


def test_comparator_failures_keep_their_traceback() -> None:
    for preference in (Exploding().compare([Pair("q", "x", "y")])[0], asyncio.run(Exploding().acompare([Pair("q", "x", "y")]))[0]):
        assert preference.failure.kind == "internal" and "the judge fell over" in preference.failure.message
        assert "Traceback" in preference.failure.raw and "compare_batch" in preference.failure.raw


def test_trl_terms_are_the_composites_terms(tmp_path) -> None:
    """With only_if and a schedule, TRL's weighted sum of the per-term callables is the total."""
    (tmp_path / "f.py").write_text("def n(response):\n    return float(len(response))\n")
    config = {
        "rewards": {
            "correct": {"type": "exact_match", "weight": 1.0},
            "length": {"type": "function", "path": str(tmp_path / "f.py") + ":n", "weight": 0.5, "only_if": "correct"},
            "late": {"type": "function", "path": str(tmp_path / "f.py") + ":n", "schedule": {"start": 0.0, "end": 1.0, "steps": 10}},
        }
    }
    funcs, weights = trl.reward_funcs(config)
    kwargs = {"prompts": ["q", "q"], "completions": ["ab", "abc"], "reference": ["ab", "x"], "trainer_state": type("S", (), {"global_step": 4})()}
    terms = [f(**kwargs) for f in funcs]
    composite = trl.cached_reward(config)
    composite.step = 4
    totals = [j.score for j in composite.score(trl.build_samples(kwargs["prompts"], kwargs["completions"], kwargs))]
    for i, total in enumerate(totals):
        assert sum(w * term[i] for w, term in zip(weights, terms, strict=True)) == pytest.approx(total)
    assert terms[1] == [2.0, 0.0]  # length counts only where correct
