"""Overlap with a reference text: sentence BLEU and chrF (sacrebleu) and ROUGE (rouge-score),
all in [0, 1].

The reference is a string or a list of strings (BLEU and chrF use all of them as
references; ROUGE takes the best). A missing or empty reference is an ``input`` failure.
Each reward builds its scorer once.

    >>> from assay.types import Sample
    >>> s = Sample(response="the cat sat on the mat", reference="the cat sat on a mat")
    >>> round(Bleu().score([s])[0].score, 3), round(ChrF().score([s])[0].score, 3), round(Rouge().score([s])[0].score, 3)
    (0.537, 0.721, 0.833)
"""

from __future__ import annotations

from typing import Any, Literal

from assay.reward import Options, Reward
from assay.types import Judgment, Sample, reference_texts


def _missing(sample: Sample, what: str) -> Judgment:
    return Judgment.fail("input", f"{what} needs a reference text (a non-empty string or list of strings), got {sample.reference!r:.80}")


def _refs_phrase(n: int) -> str:
    return "1 reference" if n == 1 else f"{n} references"


class BleuOptions(Options):
    tokenize: str = "13a"  # a sacrebleu tokenizer: 13a, intl, zh, ja-mecab, char, none, ...
    lowercase: bool = False
    smooth_method: Literal["exp", "floor", "add-k", "none"] = "exp"


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
        result = self._metric.sentence_score(sample.response_text, references)
        score = result.score / 100
        precisions = "/".join(f"{p:.1f}" for p in result.precisions)
        details = {"bleu": result.score, "precisions": list(result.precisions), "brevity_penalty": result.bp, "hyp_len": result.sys_len, "ref_len": result.ref_len}
        return Judgment(
            score,
            f"sentence BLEU {result.score:.1f} against {_refs_phrase(len(references))}: n-gram precisions {precisions}, "
            f"brevity penalty {result.bp:.3f} ({result.sys_len} vs {result.ref_len} tokens)",
            details,
        )


class ChrFOptions(Options):
    char_order: int = 6
    word_order: int = 0  # 2 gives chrF++
    beta: int = 2
    lowercase: bool = False


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
        result = self._metric.sentence_score(sample.response_text, references)
        label = "chrF++" if self.options.word_order else "chrF"
        return Judgment(
            result.score / 100,
            f"{label} {result.score:.1f} against {_refs_phrase(len(references))} ({len(sample.response_text)}-character response)",
            {"chrf": result.score},
        )


RougeVariant = Literal["rouge1", "rouge2", "rougeL", "rougeLsum"]


class RougeOptions(Options):
    variant: RougeVariant = "rougeL"
    use_stemmer: bool = True  # Porter stemming, as most papers report


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
        usable = [r for r in references if self._tokens(r)]
        if not usable:
            return Judgment.fail("input", "rouge: the reference has no tokens rouge-score can read (it keeps only a-z and 0-9)")
        best = None
        for reference in usable:
            result = self._scorer.score(reference, sample.response_text)[self.options.variant]
            if best is None or result.fmeasure > best.fmeasure:
                best = result
        assert best is not None
        among = f" (best of {len(usable)} references)" if len(usable) > 1 else ""
        return Judgment(
            best.fmeasure,
            f"{self.options.variant} F {best.fmeasure:.3f}{among}: precision {best.precision:.3f}, recall {best.recall:.3f}",
            {"fmeasure": best.fmeasure, "precision": best.precision, "recall": best.recall},
        )
