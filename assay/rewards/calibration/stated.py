"""``stated_confidence``: the confidence a response states, as its score (a probability).

The number the model wrote (see ``confidence``), so ``assay bench`` can measure how well a
policy's stated confidences are calibrated (ECE, Brier, log loss beside the accuracy) and
``assay calibrate`` can fit a map from them to P(correct). Absent or unreadable: a ``parse``
failure with the response kept, never 0.

    rewards:
      said: {type: stated_confidence, labels: [confidence, certainty], scale: auto}
"""

from __future__ import annotations

from typing import Any

from assay.reward import Reward
from assay.rewards.calibration.confidence import ConfidenceOptions, ConfidenceReader
from assay.types import Judgment, Sample


def read_stated(reader: ConfidenceReader, sample: Sample) -> tuple[float | None, Judgment | None, dict[str, Any]]:
    """(confidence, None, details) or (None, a parse failure, {}): shared by the rewards that read one."""
    text = sample.response_text
    stated = reader.read(text)
    if stated.value is None:
        return None, Judgment.fail("parse", f"no readable stated confidence: {stated.reason}", raw=text[-2000:]), {}
    return stated.value, None, {"confidence": stated.value, "marker": stated.marker, "marker_kind": stated.kind}


class StatedConfidence(Reward):
    """The response's stated confidence in [0, 1]."""

    type_name = "stated_confidence"
    Options = ConfidenceOptions
    options: ConfidenceOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self.reader = ConfidenceReader(self.options)

    def score_one(self, sample: Sample) -> Judgment:
        value, failure, details = read_stated(self.reader, sample)
        if failure is not None:
            return failure
        return Judgment(score=value, rationale=f"stated confidence {value:.4g} (from {details['marker']!r})", details=details)
