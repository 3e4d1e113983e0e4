"""Answer-matching rewards: exact match, SQuAD token F1, and multiple-choice letter match.

Each reads the answer part of the response (see ``answer_extraction``: ``<answer>`` tag,
``\\boxed{}``, ``#### X``, "the answer is X", or the whole text) and compares it with the
sample's ``reference``, which may be one answer or a list of acceptable answers (the best
match counts). A missing reference is an ``input`` failure, never a 0.

Bounds: the last ``max_chars`` characters of the response (and of each reference) are read,
the rationale saying when something was cut; a custom ``pattern`` runs under
``timeout_seconds`` (a ``timeout`` failure past it); ``details`` keep long texts shortened, so
a row does not store the response again. The choice patterns are linear.

    >>> from assay.types import Sample
    >>> ExactMatch().score([Sample(response="<answer>The Paris</answer>", reference=["paris", "Paris, France"])])[0].score
    1.0
    >>> round(TokenF1().score([Sample(response="the Eiffel tower in Paris", reference="Eiffel Tower")])[0].score, 2)
    0.67
    >>> ChoiceMatch().score([Sample(response="... so the answer is (B).", reference="B")])[0].rationale
    'chose B (from an "answer is" claim), reference B: correct'
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from assay.reward import Options, Reward
from assay.rewards.rules.bounds import ANSWER_MAX_CHARS, DEFAULT_PATTERN_TIMEOUT, BoundedPattern, Capped, PatternTimeout, cap_text, shorten
from assay.rewards.rules.extraction import (
    Extracted,
    ExtractMode,
    answer_tag,
    answer_tokens,
    clip,
    compile_pattern,
    extract_answer,
    last_boxed,
    light_normalize,
    normalize_answer,
)
from assay.text import reference_texts
from assay.types import Judgment, Sample


def _missing_reference(sample: Sample, what: str) -> Judgment:
    return Judgment.fail(
        "input",
        f"no usable reference answer: {what} needs `reference` as a string or a list of strings, got {sample.reference!r:.120}",
    )


def _bounded(pattern: str | None, timeout: float) -> BoundedPattern | None:
    """A custom extraction pattern (dotall, as ``compile_pattern`` reads it) under a time limit."""
    return BoundedPattern(pattern, re.DOTALL, timeout, what="extraction pattern") if pattern is not None else None


def _extract(text: str, extract: ExtractMode, pattern: BoundedPattern | None) -> Extracted:
    """The answer part; a custom pattern's last match wins (raises PatternTimeout past its limit)."""
    if pattern is not None:
        last = None
        for last in pattern.finditer(text):
            pass
        return Extracted(last.group(1).strip() if last is not None and last.group(1) is not None else None, "pattern")
    return extract_answer(text, extract)


def _timed_out(error: PatternTimeout, capped: Capped) -> Judgment:
    return Judgment.fail("timeout", f"{error}; no score" + capped.note())


def _not_found(found: Extracted, capped: Capped) -> Judgment:
    details: dict[str, Any] = {"extracted": None, "method": found.method}
    if capped.cut:
        details["truncated"] = True
    return Judgment(
        score=0.0,
        rationale=f"no answer found: extraction by {found.describe()} found nothing in the response; scored 0" + capped.note(),
        details=details,
    )


def _check_pattern(value: str | None) -> str | None:
    if value is not None:
        compile_pattern(value)
    return value


# an option holding a custom answer regex, checked to compile with one group when the config is read
PatternOption = Annotated[str | None, AfterValidator(_check_pattern)]


class MatchOptions(Options):
    normalize: bool = True  # SQuAD-style: lowercase, drop punctuation and articles, collapse spaces
    extract: ExtractMode = "auto"  # which part of the response is the answer
    pattern: PatternOption = None  # custom regex with one group (last match wins); replaces `extract`
    case_sensitive: bool = False
    reference_extract: ExtractMode = "none"  # also extract from the reference (e.g. "boxed", "auto" for GSM8K's "#### 72")
    timeout_seconds: float = Field(DEFAULT_PATTERN_TIMEOUT, gt=0, le=60)  # limit for a custom `pattern` per sample: a `timeout` failure past it
    max_chars: int | None = Field(ANSWER_MAX_CHARS, ge=1)  # read the last max_chars characters of the response and of each reference (null: all)


class _AnswerReward(Reward):
    Options = MatchOptions
    options: MatchOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self._pattern = _bounded(self.options.pattern, self.options.timeout_seconds)

    def _references(self, sample: Sample) -> list[str] | None:
        answers = reference_texts(sample.reference)
        if answers is not None:
            answers = [cap_text(a, self.options.max_chars, "tail").text for a in answers]
        how = self.options.reference_extract
        if answers is None or how == "none":
            return answers
        out = [found.answer for found in (extract_answer(a, how) for a in answers) if found.answer]
        return out or None

    def _norm(self, text: str) -> str:
        case_sensitive = self.options.case_sensitive
        return normalize_answer(text, case_sensitive) if self.options.normalize else light_normalize(text, case_sensitive)

    def _read(self, sample: Sample) -> tuple[list[str], Extracted, Capped] | Judgment:
        """The references and the answer extracted from the response (read up to
        ``max_chars`` from its end), or the judgment that ends the scoring early: no usable
        reference, a user pattern past its time, no answer found."""
        references = self._references(sample)
        if references is None:
            return _missing_reference(sample, self.type_name)
        capped = cap_text(sample.response_text, self.options.max_chars, "tail")
        try:
            found = _extract(capped.text, self.options.extract, self._pattern)
        except PatternTimeout as error:
            return _timed_out(error, capped)
        if found.answer is None:
            return _not_found(found, capped)
        return references, found, capped


class ExactMatch(_AnswerReward):
    """1 when the response's answer equals a reference answer (after normalisation), else 0."""

    type_name = "exact_match"

    def score_one(self, sample: Sample) -> Judgment:
        read = self._read(sample)
        if isinstance(read, Judgment):
            return read
        references, found, capped = read
        answer = self._norm(found.answer)
        normalised = [self._norm(r) for r in references]
        how = "after normalisation" if self.options.normalize else "after whitespace cleanup" + ("" if self.options.case_sensitive else ", ignoring case")
        # details keep long texts shortened: the response is already in the row once
        details: dict[str, Any] = {
            "extracted": shorten(found.answer),
            "method": found.method,
            "normalized": shorten(answer),
            "references": [shorten(r) for r in normalised],
        }
        if capped.cut:
            details["truncated"] = True
        note = capped.note()
        if answer in normalised:
            matched = references[normalised.index(answer)]
            details["matched_reference"] = shorten(matched)
            return Judgment(1.0, f"answer {clip(found.answer[:200])} (from {found.describe()}) equals reference {clip(matched[:200])} {how}{note}", details)
        shown = ", ".join(clip(r[:200], 40) for r in references[:3]) + (f" and {len(references) - 3} more" if len(references) > 3 else "")
        plural = "reference" if len(references) == 1 else f"any of {len(references)} references"
        return Judgment(0.0, f"answer {clip(found.answer[:200])} (from {found.describe()}) does not equal {plural} ({shown}) {how}{note}", details)


def token_f1(prediction: list[str], reference: list[str]) -> tuple[float, float, float, int]:
    """SQuAD token F1: (precision, recall, f1, tokens in common), counting repeated tokens by
    multiplicity. Two empty token lists agree (F1 1); one empty list gives 0."""
    if not prediction or not reference:
        same = float(prediction == reference)
        return same, same, same, 0
    common = sum((Counter(prediction) & Counter(reference)).values())
    if common == 0:
        return 0.0, 0.0, 0.0, 0
    precision = common / len(prediction)
    recall = common / len(reference)
    return precision, recall, 2 * precision * recall / (precision + recall), common


class TokenF1(_AnswerReward):
    """SQuAD token F1 between the response's answer and the reference, the best over a list of
    references (Rajpurkar et al. 2016). ``normalize: false`` only lowercases (unless
    ``case_sensitive``) and splits on whitespace."""

    type_name = "f1"

    def _tokens(self, text: str) -> list[str]:
        case_sensitive = self.options.case_sensitive
        return answer_tokens(text, case_sensitive) if self.options.normalize else light_normalize(text, case_sensitive).split()

    def score_one(self, sample: Sample) -> Judgment:
        read = self._read(sample)
        if isinstance(read, Judgment):
            return read
        references, found, capped = read
        prediction = self._tokens(found.answer)
        best: tuple[float, float, float, int] | None = None
        best_index = 0
        for index, reference in enumerate(references):
            result = token_f1(prediction, self._tokens(reference))
            if best is None or result[2] > best[2]:
                best, best_index = result, index
        assert best is not None
        precision, recall, f1, common = best
        reference = references[best_index]
        n_ref = len(self._tokens(reference))
        among = f" (best of {len(references)} references: {clip(reference[:200], 40)})" if len(references) > 1 else ""
        rationale = (
            f"{common} of {n_ref} reference tokens found in the {len(prediction)}-token answer from {found.describe()}{among}; "
            f"precision {precision:.2f}, recall {recall:.2f}, F1 {f1:.2f}" + capped.note()
        )
        details = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "common_tokens": common,
            "answer_tokens": len(prediction),
            "reference_tokens": n_ref,
            "best_reference": shorten(reference),
            "extracted": shorten(found.answer),
            "method": found.method,
        }
        if capped.cut:
            details["truncated"] = True
        return Judgment(f1, rationale, details)


# --- multiple choice ------------------------------------------------------------------------


class ChoiceOptions(Options):
    choices: str = "ABCDEFGHIJ"  # the option letters, in order (an int reference is a 0-based index into these)
    extract: ExtractMode = "auto"
    pattern: PatternOption = None  # custom regex with one group (last match wins); replaces `extract`
    timeout_seconds: float = Field(DEFAULT_PATTERN_TIMEOUT, gt=0, le=60)  # limit for a custom `pattern` per sample: a `timeout` failure past it
    max_chars: int | None = Field(ANSWER_MAX_CHARS, ge=1)  # read the last max_chars characters of the response (null: all)

    @field_validator("choices")
    @classmethod
    def _check_choices(cls, value: str) -> str:
        if not value or not value.isalpha() or not value.isupper() or len(set(value)) != len(value):
            raise ValueError(f"choices must be distinct uppercase letters such as 'ABCD', got {value!r}")
        return value


class ChoiceMatch(Reward):
    """1 when the multiple-choice letter the response settles on equals the reference letter.

    Where the letter is looked for, in order: the answer part (``<answer>`` tag, ``\\boxed{}``,
    ... per ``extract``) when it is just a letter (``B``, ``(B)``, ``**B.**``,
    ``\\text{B}``) or starts with one (``(B) Paris``); the last "answer is B" / "Answer: B" /
    "correct option is B" claim; the last line when it is just a letter; the last line with a
    marked letter (``(B)`` or ``**B**``). If the claim found names two different letters
    ("the answer is A or C") the response is ambiguous: a ``parse`` failure. No letter at
    all scores 0 ("no choice letter found"). Letters count only in upper case, except when
    the answer part is a lone letter.
    """

    type_name = "choice"
    Options = ChoiceOptions
    options: ChoiceOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        choices = self.options.choices
        self._pattern = _bounded(self.options.pattern, self.options.timeout_seconds)
        L = f"[{re.escape(choices)}]"
        # Linear patterns: no two quantifiers that can read the same characters stand side by
        # side (three chained \s* once took 57 s on 2,000 spaces), whitespace before a letter
        # is read once, after a bracket or a \text{ only.
        one = rf"(?:[\*_\(\[\{{]+\s*)?(?:\\text(?:bf)?\{{\s*)?({L})(?![A-Za-z0-9])[\*_\)\]\}}]*"
        one_nc = one.replace(f"({L})", L)
        separator = r"\s*(?:,|/|&|\+|\band\b|\bor\b)\s*"
        self._bare = re.compile(rf"^[\s\*_\(\[\{{:\.]*(?:\\text(?:bf)?\{{\s*\(?)?([{choices}{choices.lower()}])[\s\*_\)\]\}}\.:]*$")
        self._leading = re.compile(rf"^[\s\*_]*\(?({L})[\)\.:](?:\s|\*|$)")
        self._claim = re.compile(
            rf"\b(?i:answer|option|choice)\b(?:\*\*)?(?:\s*[:：=]|\s+(?i:is|would\s+be|should\s+be|must\s+be|will\s+be)\b(?:\s*:)?)\s*"
            rf"({one_nc}(?:{separator}{one_nc})*)"
        )
        self._one = re.compile(one)
        self._sequence = re.compile(rf"^\s*{one_nc}(?:{separator}{one_nc})*[\s\.]*$")
        self._marker = re.compile(rf"\(({L})\)|\*\*({L})\*\*")

    def find_choice(self, text: str) -> tuple[str | None, str, list[str]]:
        """(letter, where it was found, all distinct letters claimed). Letter is None with
        several letters claimed when ambiguous, or with none when nothing was found."""
        if self.options.extract == "auto" and self._pattern is None:
            # a claim needs its words ("the answer is"), so auto only narrows to a tag or a box
            found = next(
                (Extracted(v, m) for m, v in (("answer_tag", answer_tag(text)), ("boxed", last_boxed(text))) if v is not None),
                Extracted(text.strip(), "whole"),
            )
        else:
            found = _extract(text, self.options.extract, self._pattern)
        region = found.answer
        if region is None:
            return None, found.describe(), []
        bare = self._bare.match(region)
        if bare:
            return bare.group(1).upper(), found.describe(), [bare.group(1).upper()]
        if found.method != "whole":
            leading = self._leading.match(region)
            if leading:
                return leading.group(1), found.describe(), [leading.group(1)]
            if self._sequence.match(region):
                letters = list(dict.fromkeys(m.group(1) for m in self._one.finditer(region)))
                return (letters[0] if len(letters) == 1 else None), found.describe(), letters
        claims = list(self._claim.finditer(region))
        if claims:
            letters = list(dict.fromkeys(m.group(1) for m in self._one.finditer(claims[-1].group(1))))
            return (letters[0] if len(letters) == 1 else None), 'an "answer is" claim', letters
        lines = [line.strip() for line in region.splitlines() if line.strip()]
        if lines:
            bare = self._bare.match(lines[-1])
            if bare:
                return bare.group(1).upper(), "the last line", [bare.group(1).upper()]
        for line in reversed(lines):
            letters = list(dict.fromkeys(a or b for a, b in self._marker.findall(line)))
            if letters:
                return (letters[0] if len(letters) == 1 else None), "a marked letter on the last line that has one", letters
        return None, found.describe(), []

    def reference_letters(self, reference: Any) -> list[str] | None:
        choices = self.options.choices
        items = reference if isinstance(reference, (list, tuple)) else [reference]
        out: list[str] = []
        for item in items:
            if isinstance(item, bool) or item is None:
                return None
            if isinstance(item, int):
                if not 0 <= item < len(choices):
                    return None
                out.append(choices[item])
                continue
            if not isinstance(item, str):
                return None
            match = self._bare.match(item) or self._leading.match(item)
            if not match or match.group(1).upper() not in choices:
                return None
            out.append(match.group(1).upper())
        return out or None

    def score_one(self, sample: Sample) -> Judgment:
        expected = self.reference_letters(sample.reference)
        if expected is None:
            return Judgment.fail(
                "input",
                f"reference {sample.reference!r:.80} is not a choice letter among {self.options.choices} (or a 0-based index, or a list of them)",
            )
        capped = cap_text(sample.response_text, self.options.max_chars, "tail")
        try:
            letter, where, letters = self.find_choice(capped.text)
        except PatternTimeout as error:
            return _timed_out(error, capped)
        details: dict[str, Any] = {"chosen": letter, "reference": expected, "found_in": where}
        if capped.cut:
            details["truncated"] = True
        note = capped.note()
        if letter is None and len(letters) > 1:
            return Judgment.fail(
                "parse",
                f"ambiguous answer: {where} names {len(letters)} different letters ({', '.join(letters)}); expected one{note}",
                raw=shorten(capped.text, 2000),
            )
        if letter is None:
            return Judgment(0.0, f"no choice letter found (looked in {where} for one of {self.options.choices}); scored 0{note}", details)
        ref = "/".join(expected)
        verdict = "correct" if letter in expected else "wrong"
        return Judgment(float(letter in expected), f"chose {letter} (from {where}), reference {ref}: {verdict}{note}", details)
