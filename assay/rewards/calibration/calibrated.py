"""A reward or a comparator with a saved calibration applied: ``calibration: fit.json`` on a
config entry (see ``assay calibrate``), so a calibrated judge is one config line.

    rewards:
      judge:
        type: judge
        base_url: http://127.0.0.1:8080/v1
        calibration: fits/judge_platt.json     # relative to the config's folder

A reward's score becomes the fit's P(correct); the raw score stays in
``details.uncalibrated_score`` and the rationale says what was mapped to what. A failure or
an abstention passes through untouched. A score the fit cannot take (a fit made on
probabilities, given a score outside [0, 1]) is an ``input`` failure, never clipped.

A comparator's ``probability`` (P(A better)) is mapped the same way; its verdict stays what
the judge said (the fit changes how sure it is, not what it picked). A preference without a
probability (a judge that gave no logprobs) passes through, with ``meta.calibration`` saying
there was nothing to calibrate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assay.reward import Comparator, Reward, identity_of
from assay.rewards.calibration.fit_file import read_fit, sha256_of
from assay.types import Judgment, Pair, Preference, Sample


class _Fitted:
    def _load(self, path: str | Path) -> None:
        self.fit_path = Path(path)
        self.calibrator, self.record = read_fit(self.fit_path)
        self.fit_sha = sha256_of(self.fit_path)
        self.about = f"{self.calibrator.method} fit {self.fit_path.name}"

    def _map(self, value: float) -> tuple[float | None, str]:
        try:
            return float(self.calibrator.apply([value])[0]), ""
        except ValueError as error:
            return None, str(error)


class CalibratedReward(_Fitted, Reward):
    """``inner``'s scores mapped through a saved calibrator."""

    def __init__(self, inner: Reward, path: str | Path, name: str | None = None) -> None:
        Reward.__init__(self, name or inner.name)
        self.inner = inner
        self.needs_whole_groups = inner.needs_whole_groups  # type: ignore[misc]  # as the reward it wraps
        self._load(path)

    def wrapped(self) -> list[Any]:
        return [self.inner]

    def identity(self) -> str:
        return identity_of(self, f"calibration:{self.fit_sha}")

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        return [self._calibrated(j) for j in await self.inner.ascore(samples)]

    def _calibrated(self, judgment: Judgment) -> Judgment:
        if not judgment.ok:
            return judgment
        assert judgment.score is not None
        raw = judgment.score
        value, error = self._map(raw)
        meta = {**judgment.meta, "calibration": {"file": str(self.fit_path), "method": self.calibrator.method}}
        if value is None:
            failed = Judgment.fail("input", f"{self.about} cannot map {self.inner.name}'s score: {error}", **meta)
            failed.details = {**judgment.details, "uncalibrated_score": raw, "uncalibrated_rationale": judgment.rationale}
            return failed
        details = {**judgment.details, "uncalibrated_score": raw}
        return Judgment(score=value, rationale=f"{judgment.rationale} [calibrated by {self.about}: {raw:.4g} -> P = {value:.4f}]", details=details, failure=None, meta=meta)


class CalibratedComparator(_Fitted, Comparator):
    """``inner``'s P(A better) mapped through a saved calibrator; verdicts unchanged."""

    def __init__(self, inner: Comparator, path: str | Path, name: str | None = None) -> None:
        Comparator.__init__(self, name or inner.name)
        self.inner = inner
        self._load(path)

    def wrapped(self) -> list[Any]:
        return [self.inner]

    def identity(self) -> str:
        return identity_of(self, f"calibration:{self.fit_sha}")

    async def acompare_batch(self, pairs: list[Pair]) -> list[Preference]:
        return [self._calibrated(p) for p in await self.inner.acompare(pairs)]

    def _calibrated(self, preference: Preference) -> Preference:
        if not preference.ok:
            return preference
        meta: dict[str, Any] = {**preference.meta, "calibration": {"file": str(self.fit_path), "method": self.calibrator.method}}
        if preference.probability is None:
            meta["calibration"]["note"] = "the judge gave no probability: nothing to calibrate"
            return Preference(winner=preference.winner, rationale=preference.rationale, probability=None, meta=meta)
        raw = preference.probability
        value, error = self._map(raw)
        if value is None:
            return Preference.fail("input", f"{self.about} cannot map the judge's P(A): {error}", **meta)
        meta["uncalibrated_probability"] = raw
        return Preference(winner=preference.winner, rationale=f"{preference.rationale} [calibrated by {self.about}: P(A) {raw:.4f} -> {value:.4f}]", probability=value, meta=meta)
