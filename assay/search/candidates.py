"""A candidate solution in a search: its steps, their scores, the aggregate, its final answer.

``score_candidates(reward, question, texts)`` scores solutions with any assay reward and keeps
everything the reward said: a process reward's ``details.step_scores`` (found on the judgment
or on one of a composed reward's components), aggregated by ``aggregate`` over the steps it
scored (abstained steps, ``None``, are left out); a reward with no step scores (an outcome
RM) gives its score as the candidate's. A candidate whose reward failed, or abstained on every
step, has ``score = None``: selection ranks it below every scored candidate, never as a
number it was not given.

``answer_key`` groups answers for voting: the final answer by the ``math`` reward's extractor
(``\\boxed{}``, ``####``, "The answer is"), then a plain number by value (``1,000`` = ``1000.0``)
or the LaTeX lightly normalised. No sympy: two spellings of one expression may fall in two
groups (say so when it matters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assay.rewards.math.fast_path import normalise_latex, plain_number
from assay.rewards.process.steps import aggregate as aggregate_scores
from assay.rewards.process.steps import split_steps, step_scores_of
from assay.rewards.rules.extraction import extract_final_answer
from assay.types import Judgment, Sample


@dataclass
class Candidate:
    """One solution and what the reward said of it."""

    text: str
    steps: list[str]
    step_scores: list[float | None] | None = None
    score: float | None = None  # the aggregate (or the outcome score); None: not scored
    answer: str | None = None  # the final answer as written
    key: str | None = None  # the answer's group for voting
    rationale: str = ""
    failure: str | None = None  # the failure kind, when the reward failed
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text, "steps": self.steps, "step_scores": self.step_scores, "score": self.score,
            "answer": self.answer, "key": self.key, "rationale": self.rationale, "failure": self.failure, **({"meta": self.meta} if self.meta else {}),
        }


def answer_key(answer: str | None) -> str | None:
    """The group of an answer: a plain number by value, else the normalised LaTeX."""
    if answer is None or not answer.strip():
        return None
    number = plain_number(answer)
    if number is not None:
        value = number.value / 100 if number.percent else number.value
        return f"num:{value.normalize():f}"
    return "tex:" + normalise_latex(answer)


def final_answer(text: str) -> str | None:
    return extract_final_answer(text).answer


def aggregate_candidate(step_scores: list[float | None] | None, outcome: float | None, how: str) -> float | None:
    """The candidate's score: ``how`` over its scored steps, else the outcome score."""
    if step_scores is not None:
        scored = [s for s in step_scores if s is not None]
        return aggregate_scores(scored, how) if scored else None
    return outcome


def candidate_from(text: str, judgment: Judgment, how: str, steps: list[str] | None = None) -> Candidate:
    steps = steps if steps is not None else split_steps(text)
    step_scores = step_scores_of(judgment)
    failed = judgment.failure.kind if judgment.failure else None
    score = None if failed else aggregate_candidate(step_scores, judgment.score, how)
    answer = final_answer(text)
    return Candidate(text, steps, step_scores, score, answer, answer_key(answer), judgment.rationale, failed)


async def ascore_candidates(reward: Any, question: str, texts: list[str], how: str = "min",
                            steps: list[list[str]] | None = None, reference: Any = None, item_id: Any = None) -> list[Candidate]:
    """Score solutions of one question with ``reward`` (any assay Reward)."""
    step_lists = steps if steps is not None else [split_steps(t) for t in texts]
    samples = [Sample(prompt=question, response=t, steps=s, reference=reference, id=None if item_id is None else f"{item_id}/{k}")
               for k, (t, s) in enumerate(zip(texts, step_lists, strict=True))]
    judgments = await reward.ascore(samples) if samples else []
    return [candidate_from(t, j, how, s) for t, j, s in zip(texts, judgments, step_lists, strict=True)]
