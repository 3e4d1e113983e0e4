"""Calibration rewards: score a response's stated confidence against its correctness, where
the correctness comes from any other reward (``correctness``, a nested reward entry such as
``{type: math}``, ``{type: exact_match, pattern: ...}`` or a judge).

- ``calibration_brier``: RLCR's reward, ``c - (q - c)^2`` (see ``scoring_rules``), in [-1, 1];
  with ``include_correctness: false``, only ``-(q - c)^2``, in [-1, 0].
- ``calibration_log``: ``c + c log q + (1 - c) log(1 - q)`` with q clipped to [eps, 1 - eps];
  with ``include_correctness: false``, only the log score.

The correctness term ``c`` must lie in [0, 1]: a reward scoring on another scale (a 1-10
judge) is thresholded with ``correct_at`` (c = 1 when its score is at least that, else 0).
What fails, fails the sample with its own kind: a correctness term that failed (its kind and
reason, the inner judgment kept in ``details.correctness``), a correctness that abstained or
lies outside [0, 1] without ``correct_at`` (``input``), no readable stated confidence (``parse``).

    rewards:
      calibrated:
        type: calibration_brier
        correctness: {type: math}
        labels: [confidence]          # where the confidence is read (see confidence.py)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from assay.reward import Reward
from assay.rewards.calibration.confidence import ConfidenceOptions, ConfidenceReader
from assay.rewards.calibration.scoring_rules import log_score, rlcr_reward
from assay.rewards.calibration.stated import read_stated
from assay.types import Judgment, Sample


class CalibrationOptions(ConfidenceOptions):
    correctness: dict[str, Any]  # a reward entry: {type: ..., options...}
    include_correctness: bool = True  # add c to the scoring rule (RLCR); false: the scoring rule alone
    correct_at: float | None = None  # threshold a correctness score outside [0, 1] into 0/1

    @field_validator("correctness")
    @classmethod
    def _has_type(cls, entry: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(entry, dict) or not entry.get("type"):
            raise ValueError("needs a 'type': correctness is a reward entry such as {type: math}")
        return entry


class LogCalibrationOptions(CalibrationOptions):
    eps: float = Field(default=1e-4, gt=0, lt=0.5)  # q is clipped to [eps, 1 - eps]: a confident mistake costs log(eps)


class CalibrationReward(Reward):
    """The shared machinery: score correctness with the nested reward, read q, apply ``rule``."""

    rule_name: ClassVar[str] = ""
    options: CalibrationOptions

    def __init__(self, name: str | None = None, *, base_dir: Path | None = None, **options: Any) -> None:
        from assay.registry import build_reward

        super().__init__(name, **options)
        if not self.options.include_correctness:
            self.rule_name = self.rule_name.split(" + ", 1)[1] if " + " in self.rule_name else self.rule_name.removeprefix("c ")
        self.reader = ConfidenceReader(self.options)
        entry = dict(self.options.correctness)
        self.correctness = build_reward(entry.pop("type"), f"{self.name}.correctness", entry, base_dir)

    def wrapped(self) -> list[Any]:
        return [self.correctness]

    def rule(self, q: float, c: float) -> float:
        raise NotImplementedError

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        inner = await self.correctness.ascore(samples)
        return [self._judge(sample, judgment) for sample, judgment in zip(samples, inner, strict=True)]

    def _correct(self, judgment: Judgment) -> tuple[float | None, Judgment | None]:
        name = self.correctness.name
        if judgment.failure is not None:
            return None, Judgment.fail(judgment.failure.kind, f"the correctness term ({name}) failed: {judgment.rationale}", raw=judgment.failure.raw)
        if judgment.score is None:
            return None, Judgment.fail("input", f"the correctness term ({name}) abstained: {judgment.rationale}")
        score = float(judgment.score)
        threshold = self.options.correct_at
        if threshold is not None:
            return (1.0 if score >= threshold else 0.0), None
        if not 0.0 <= score <= 1.0:
            return None, Judgment.fail("input", f"the correctness term ({name}) scored {score:g}, outside [0, 1]; set correct_at to threshold it")
        return score, None

    def _judge(self, sample: Sample, judgment: Judgment) -> Judgment:
        c, failed = self._correct(judgment)
        if failed is None:
            q, failed, details = read_stated(self.reader, sample)
        if failed is not None:
            failed.details["correctness"] = judgment.to_dict()
            return failed
        assert c is not None and q is not None
        score = self.rule(q, c)
        details.update({"correctness": judgment.to_dict(), "c": c, "rule": self.rule_name})
        verdict = "correct" if c == 1 else "wrong" if c == 0 else f"correctness {c:.3g}"
        return Judgment(score=score, rationale=f"{verdict} ({self.correctness.name}); stated confidence {q:.3g} from {details['marker']!r}; {self.rule_name} = {score:.4g}", details=details)


class BrierCalibration(CalibrationReward):
    """RLCR: correctness minus the squared gap between stated confidence and correctness."""

    type_name = "calibration_brier"
    Options = CalibrationOptions
    rule_name = "c - (q - c)^2"

    def rule(self, q: float, c: float) -> float:
        return rlcr_reward(q, c) if self.options.include_correctness else -((q - c) ** 2)


class LogCalibration(CalibrationReward):
    """Correctness plus the logarithmic score of the stated confidence (q clipped to [eps, 1 - eps])."""

    type_name = "calibration_log"
    Options = LogCalibrationOptions
    options: LogCalibrationOptions
    rule_name = "c + c log q + (1 - c) log(1 - q)"

    def rule(self, q: float, c: float) -> float:
        return (c if self.options.include_correctness else 0.0) + log_score(q, c, self.options.eps)
