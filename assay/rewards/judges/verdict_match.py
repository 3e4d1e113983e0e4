"""``verdict_match``: the response is a judge's pairwise verdict, read by the judges' own
parser (:func:`~assay.rewards.judges.verdicts.parse_pairwise`), scored against the sample's
reference label (A or B). What ``assay train genrm`` rewards a generative reward model
with (Think-RM, RM-R1: "the verdict parses and matches the preference label"), and what
scores a file of judge outputs against their labels.

``check: match`` (default): 1 when the verdict read equals the label, 0 when it names the
other response, and 0 when no verdict can be read (no ``[[A]]``/``[[B]]``, an echoed
template, two final verdicts, a reply cut inside ``<think>``), or when it says tie and
ties are not allowed. Those zeros are the verdict's grade, not a stand-in for a missing
score: the response *is* the thing graded, and a judge that writes no verdict has not
picked the better response; the rationale says which case it was and the parser's reason.
``check: parses``: 1 when a verdict can be read, else 0 (a format term, label not needed).
A missing or unreadable label (not A, B, or, with ``allow_tie``, tie/C) is an ``input``
failure: then there is nothing to grade against.

    rewards:
      verdict: {type: verdict_match}                       # the label in the sample's reference
      readable: {type: verdict_match, check: parses, weight: 0.1}

Not here: writing the verdicts (any judge, or the policy being trained), the prompt
(``prompts/judge_pairwise.txt``, the one ``pairwise_judge`` uses).
"""

from __future__ import annotations

from typing import Literal

from assay.reward import Options, Reward
from assay.rewards.judges.verdicts import parse_pairwise
from assay.types import Failure, Judgment, Sample

_LABELS = {"a": "a", "response_a": "a", "b": "b", "response_b": "b", "tie": "tie", "c": "tie"}


class VerdictMatchOptions(Options):
    check: Literal["match", "parses"] = "match"
    allow_tie: bool = False  # a tie verdict (and label) counts; without it a tie verdict scores 0 and a tie label fails


def label_of(value: object, allow_tie: bool) -> str | None:
    """``a``, ``b`` or ``tie`` from a label (``A``, ``B``, ``response_a``, ``A>B``, ``tie``, ``C``), else None."""
    if value is None:
        return None
    text = str(value).strip().lower().replace("[", "").replace("]", "")
    text = {"a>b": "a", "b>a": "b", "a=b": "tie"}.get(text, text)
    label = _LABELS.get(text)
    return None if label == "tie" and not allow_tie else label


class VerdictMatch(Reward):
    """A pairwise verdict graded against its label. See the module docstring."""

    type_name = "verdict_match"
    Options = VerdictMatchOptions

    def score_one(self, sample: Sample) -> Judgment:
        o = self.options
        label = None
        if o.check == "match":
            label = label_of(sample.reference, o.allow_tie)
            if label is None:
                allowed = "A, B or tie" if o.allow_tie else "A or B"
                return Judgment.fail("input", f"the preference label (the sample's reference) must be {allowed}, got {sample.reference!r}")
        verdict = parse_pairwise(sample.response_text, allow_tie=o.allow_tie)
        if isinstance(verdict, Failure):
            return Judgment(0.0, f"no verdict could be read: {verdict.message}", meta={"verdict": None, "label": label})
        shown = verdict.value.upper() if verdict.value != "tie" else "tie"
        if o.check == "parses":
            return Judgment(1.0, f"a verdict can be read: {shown} ({verdict.form})", meta={"verdict": verdict.value})
        right = verdict.value == label
        expected = label.upper() if label != "tie" else "tie"
        return Judgment(1.0 if right else 0.0, f"verdict {shown} {'matches' if right else 'does not match'} the label {expected}",
                        meta={"verdict": verdict.value, "label": label})
