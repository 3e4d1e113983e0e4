"""Overlap with a reference text: sentence BLEU and chrF (sacrebleu) and ROUGE (rouge-score),
all in [0, 1].

The reference is a string or a list of strings (BLEU and chrF use all of them as
references; ROUGE takes the best). A missing or empty reference is an ``input`` failure.
Each reward builds its scorer once.

Bounds: the response and each reference are read up to ``max_chars`` characters (their
heads; the rationale says when one was cut), and ROUGE-L's longest common subsequence is
computed bit-parallel (the same value as rouge-score's table, without its n x m memory).

    >>> from assay.types import Sample
    >>> s = Sample(response="the cat sat on the mat", reference="the cat sat on a mat")
    >>> round(Bleu().score([s])[0].score, 3), round(ChrF().score([s])[0].score, 3), round(Rouge().score([s])[0].score, 3)
    (0.537, 0.721, 0.833)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from assay.reward import Options, Reward
from assay.rewards.rules.bounds import cap_text
from assay.types import Judgment, Sample, reference_texts

OVERLAP_MAX_CHARS = 20_000  # per text: sacrebleu and rouge-score take ~4-10 s per MB


def _capped(sample: Sample, references: list[str], max_chars: int | None) -> tuple[str, list[str], str]:
    """(response, references, note) cut to ``max_chars`` characters each."""
    response = cap_text(sample.response_text, max_chars, "head")
    refs = [cap_text(r, max_chars, "head") for r in references]
    note = response.note()
    cut = sum(r.cut for r in refs)
    if cut:
        note += f" [{cut} reference{'s' if cut > 1 else ''} cut to {max_chars:,} characters (max_chars)]"
    return response.text, [r.text for r in refs], note


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists, bit-parallel (Hyyrö 2004):
    one big-integer step per token of ``a``, memory linear in ``len(b)``."""
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, token in enumerate(b):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(b)) - 1
    v = full
    for token in a:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


def _missing(sample: Sample, what: str) -> Judgment:
    return Judgment.fail("input", f"{what} needs a reference text (a non-empty string or list of strings), got {sample.reference!r:.80}")


def _refs_phrase(n: int) -> str:
    return "1 reference" if n == 1 else f"{n} references"


class BleuOptions(Options):
    tokenize: str = "13a"  # a sacrebleu tokenizer: 13a, intl, zh, ja-mecab, char, none, ...
    lowercase: bool = False
    smooth_method: Literal["exp", "floor", "add-k", "none"] = "exp"
    max_chars: int | None = Field(OVERLAP_MAX_CHARS, ge=1)  # read the first max_chars characters of the response and each reference (null: all)


class Bleu(Reward):
    """Sentence BLEU (Papineni et al. 2002) from sacrebleu with effective order (n-gram orders
    the sentence is too short for are left out), divided by 100."""

    type_name = "bleu"
    Options = BleuOptions
    options: BleuOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        from sacrebleu.metrics import BLEU

        o = self.options
        try:
            self._metric = BLEU(tokenize=o.tokenize, lowercase=o.lowercase, smooth_method=o.smooth_method, effective_order=True)
        except Exception as error:  # sacrebleu raises several kinds for a bad tokenizer name
            raise ValueError(f"bleu: cannot build sacrebleu BLEU with tokenize={o.tokenize!r}: {error}") from error

    def score_one(self, sample: Sample) -> Judgment:
        references = reference_texts(sample.reference)
        if references is None:
            return _missing(sample, "bleu")
        response, references, note = _capped(sample, references, self.options.max_chars)
        result = self._metric.sentence_score(response, references)
        score = result.score / 100
        precisions = "/".join(f"{p:.1f}" for p in result.precisions)
        details = {"bleu": result.score, "precisions": list(result.precisions), "brevity_penalty": result.bp, "hyp_len": result.sys_len, "ref_len": result.ref_len}
        return Judgment(
            score,
            f"sentence BLEU {result.score:.1f} against {_refs_phrase(len(references))}: n-gram precisions {precisions}, "
            f"brevity penalty {result.bp:.3f} ({result.sys_len} vs {result.ref_len} tokens){note}",
            details,
        )


class ChrFOptions(Options):
    char_order: int = 6
    word_order: int = 0  # 2 gives chrF++
    beta: int = 2
    lowercase: bool = False
    max_chars: int | None = Field(OVERLAP_MAX_CHARS, ge=1)  # read the first max_chars characters of the response and each reference (null: all)


class ChrF(Reward):
    """chrF (Popović 2015; chrF++ with ``word_order: 2``) from sacrebleu, divided by 100."""

    type_name = "chrf"
    Options = ChrFOptions
    options: ChrFOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        from sacrebleu.metrics import CHRF

        o = self.options
        self._metric = CHRF(char_order=o.char_order, word_order=o.word_order, beta=o.beta, lowercase=o.lowercase)

    def score_one(self, sample: Sample) -> Judgment:
        references = reference_texts(sample.reference)
        if references is None:
            return _missing(sample, "chrf")
        response, references, note = _capped(sample, references, self.options.max_chars)
        result = self._metric.sentence_score(response, references)
        label = "chrF++" if self.options.word_order else "chrF"
        return Judgment(
            result.score / 100,
            f"{label} {result.score:.1f} against {_refs_phrase(len(references))} ({len(sample.response_text)}-character response){note}",
            {"chrf": result.score},
        )


RougeVariant = Literal["rouge1", "rouge2", "rougeL", "rougeLsum"]


class RougeOptions(Options):
    variant: RougeVariant = "rougeL"
    use_stemmer: bool = True  # Porter stemming, as most papers report
    max_chars: int | None = Field(OVERLAP_MAX_CHARS, ge=1)  # read the first max_chars characters of the response and each reference (null: all)


class Rouge(Reward):
    """ROUGE F-measure (Lin 2004) from Google's rouge-score, the best over the references.

    rouge-score's tokenizer keeps only ``a-z`` and ``0-9``: a reference with none of them
    (e.g. Chinese text) is an ``input`` failure rather than a silent 0.
    """

    type_name = "rouge"
    Options = RougeOptions
    options: RougeOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        from rouge_score import rouge_scorer

        self._scorer = rouge_scorer.RougeScorer([self.options.variant], use_stemmer=self.options.use_stemmer)

    def _tokens(self, text: str) -> list[str]:
        return self._scorer._tokenizer.tokenize(text)  # the scorer's own tokenizer

    def score_one(self, sample: Sample) -> Judgment:
        references = reference_texts(sample.reference)
        if references is None:
            return _missing(sample, "rouge")
        response, references, note = _capped(sample, references, self.options.max_chars)
        tokenized = [(r, self._tokens(r)) for r in references]
        usable = [(r, tokens) for r, tokens in tokenized if tokens]
        if not usable:
            return Judgment.fail("input", "rouge: the reference has no tokens rouge-score can read (it keeps only a-z and 0-9)")
        best = None
        response_tokens = self._tokens(response) if self.options.variant == "rougeL" else None
        for reference, reference_tokens in usable:
            if response_tokens is not None:  # rougeL: the same LCS as rouge-score, bit-parallel
                result = _lcs_score(response_tokens, reference_tokens)
            else:
                result = self._scorer.score(reference, response)[self.options.variant]
            if best is None or result.fmeasure > best.fmeasure:
                best = result
        assert best is not None
        among = f" (best of {len(usable)} references)" if len(usable) > 1 else ""
        return Judgment(
            best.fmeasure,
            f"{self.options.variant} F {best.fmeasure:.3f}{among}: precision {best.precision:.3f}, recall {best.recall:.3f}{note}",
            {"fmeasure": best.fmeasure, "precision": best.precision, "recall": best.recall},
        )


def _lcs_score(prediction: list[str], target: list[str]) -> Any:
    """rouge-score's ROUGE-L Score (precision, recall, fmeasure) from ``lcs_length``."""
    from rouge_score.scoring import Score

    if not prediction or not target:
        return Score(precision=0.0, recall=0.0, fmeasure=0.0)
    lcs = lcs_length(prediction, target)
    precision, recall = lcs / len(prediction), lcs / len(target)
    fmeasure = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return Score(precision=precision, recall=recall, fmeasure=fmeasure)
