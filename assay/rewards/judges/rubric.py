"""Rubric rewards: every criterion gets its own verdict and reason; weights make the score.

A rubric is a list of criteria, each ``{text, weight, kind}``: ``kind`` is ``hard_rule``
(an explicit requirement) or ``principle`` (a quality); a negative ``weight`` is a penalty
for something a response must not do. ``rubric`` (:class:`RubricReward`) asks the judge
about each criterion separately (concurrently); the judge writes a one-sentence reason and
then ``Verdict: MET``, ``NOT MET`` or ``CANNOT ASSESS``. "Cannot assess" is a verdict, not a
failure: that criterion is left out of the score. Then

    score = sum(weights of met criteria) / sum(positive weights of assessed criteria)

(penalties that are met subtract). With ``veto: true`` (default) a failed hard rule -- a
positive one not met, or a penalty one met -- sets the score to 0 and the rationale says
which rule. A criterion whose verdict cannot be read fails the whole judgment (typed
``parse`` failure, per-criterion results kept in ``details``).

With ``tools:``, the judge of each criterion may call tools first (its own bounded
conversation, :mod:`~assay.rewards.judges.tooluse`), kept in ``details["criterion_N"]["tools"]``.

The rubric comes from the sample's ``rubric`` field (a list of criteria or of strings), or
from ``rubric_file`` (a rubric JSON file, see :class:`Rubric`) for every sample.

    rewards:
      rubric:
        type: rubric
        base_url: http://127.0.0.1:8080/v1
        rubric_file: rubrics/essay.json        # or a per-sample "rubric" field

Rubric *generation*: :func:`generate_rubric` writes one from a prompt;
:func:`contrastive_rubric` writes one from a preferred and a rejected response
(OpenRubrics-style) and keeps it only if applying it reproduces the known preference
(consistency filtering). Rubrics are saved as versioned JSON files with their provenance.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from assay.backends.base import Backend
from assay.backends.settings import BackendOptions
from assay.reward import Reward
from assay.rewards.judges import prompting
from assay.rewards.judges.base import JudgeCore
from assay.rewards.judges.tooluse import ToolUseOptions
from assay.rewards.judges.verdicts import echoed_at, ends_mid_instruction, json_objects, parse_criterion, prepare
from assay.text import prompt_text, reference_shown, shorten
from assay.types import Failure, Judgment, Sample

RUBRIC_FORMAT = "assay.rubric"
RUBRIC_FORMAT_VERSION = 1
KINDS = ("hard_rule", "principle")


@dataclass
class Criterion:
    text: str
    weight: float = 1.0
    kind: Literal["hard_rule", "principle"] = "principle"

    @classmethod
    def coerce(cls, value: Any) -> Criterion:
        if isinstance(value, Criterion):
            return value
        if isinstance(value, str):
            return cls(text=value)
        if isinstance(value, dict):
            text = value.get("text") or value.get("criterion") or value.get("description")
            if not text or not isinstance(text, str):
                raise ValueError(f"a criterion needs a 'text', got {value!r}")
            kind = str(value.get("kind", "principle")).lower().replace(" ", "_").replace("-", "_")
            if kind in ("hard", "rule", "hard_rules"):
                kind = "hard_rule"
            if kind not in KINDS:
                raise ValueError(f"criterion kind must be one of {KINDS}, got {value.get('kind')!r}")
            weight = float(value.get("weight", 1.0))
            return cls(text=text.strip(), weight=weight, kind=kind)  # type: ignore[arg-type]
        raise ValueError(f"a criterion is a string or an object with 'text', got {type(value).__name__}")


@dataclass
class Rubric:
    """Criteria plus where they came from; saved as ``{"format": "assay.rubric", "version": 1, ...}``."""

    criteria: list[Criterion]
    provenance: dict[str, Any] = field(default_factory=dict)
    version: int = RUBRIC_FORMAT_VERSION

    @classmethod
    def coerce(cls, value: Any) -> Rubric:
        if isinstance(value, Rubric):
            return value
        if isinstance(value, dict):
            if value.get("format") not in (None, RUBRIC_FORMAT):
                raise ValueError(f"not an assay rubric (format {value.get('format')!r})")
            return cls([Criterion.coerce(c) for c in value.get("criteria") or []], dict(value.get("provenance") or {}), int(value.get("version", RUBRIC_FORMAT_VERSION)))
        if isinstance(value, list):
            return cls([Criterion.coerce(c) for c in value])
        if isinstance(value, str):
            return cls([Criterion(text=line.strip("-* ").strip()) for line in value.splitlines() if line.strip("-* ").strip()])
        raise ValueError(f"a rubric is a list of criteria, got {type(value).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return {"format": RUBRIC_FORMAT, "version": self.version, "criteria": [asdict(c) for c in self.criteria], "provenance": self.provenance}

    def save(self, path: str | Path) -> Path:
        """Write the rubric as JSON (atomically: a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        temporary.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Rubric:
        return cls.coerce(json.loads(Path(path).read_text(encoding="utf-8")))


class RubricOptions(BackendOptions, ToolUseOptions):
    rubric_field: str = "rubric"  # the sample field holding the rubric
    rubric_file: str | None = None  # a rubric JSON file used for samples without the field
    veto: bool = True  # a failed hard rule sets the score to 0
    use_reference: bool = True
    harden: bool = True
    prompt_file: str | None = None
    max_tokens: int = 256  # one sentence and a verdict


class RubricReward(JudgeCore, Reward):
    """Per-criterion verdicts against a rubric, weighted; hard rules can veto. See the module docstring."""

    type_name = "rubric"
    Options = RubricOptions
    prompt_name = "rubric_criterion"

    def __init__(self, name: str | None = None, client: Backend | None = None, base_dir: Path | None = None, **options: Any) -> None:
        """``base_dir``: where a relative ``rubric_file`` (or a tool's file) is looked for first (a config file's folder)."""
        super().__init__(name, client, base_dir, **options)
        self.default_rubric: Rubric | None = None
        if self.options.rubric_file:
            path = Path(self.options.rubric_file)
            if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
                path = base_dir / path
            self.default_rubric = Rubric.load(path)

    def rubric_for(self, sample: Sample) -> Rubric | None:
        value = sample.get(self.options.rubric_field)  # type: ignore[attr-defined]
        if value is None:
            return self.default_rubric
        return Rubric.coerce(value)

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        return await self.ajudge(samples)

    async def ajudge(self, samples: Sequence[Sample], overrides: Sequence[dict[str, Any] | None] | None = None) -> list[Judgment]:
        return await self._each(samples, overrides, self._judge, Judgment)

    def build_messages(self, sample: Sample, criterion: Criterion) -> list[dict[str, str]]:
        values = self._texts(sample)
        harden = self.options.harden
        values.update(response=prompting.fence("response", sample.response_text, harden), criterion=prompting.defuse(criterion.text) if harden else criterion.text)
        return prompting.messages(*prompting.render(self.prompt, **values))

    async def _criterion(self, sample: Sample, criterion: Criterion, overrides: dict[str, Any] | None) -> dict[str, Any]:
        completion, transcript = await self._converse(self.build_messages(sample, criterion), overrides)
        entry: dict[str, Any] = {"criterion": criterion.text, "weight": criterion.weight, "kind": criterion.kind}
        if transcript is not None:  # each criterion's own conversation with the tools
            entry["tools"] = transcript.to_dict()
        if isinstance(completion, Failure):
            entry.update(verdict=None, failure=completion)
            return entry
        entry["usage"] = transcript.usage if transcript is not None else completion.usage
        verdict = self._read(parse_criterion, completion.text)
        if isinstance(verdict, Failure):
            entry.update(verdict=None, failure=Failure("parse", f"criterion {criterion.text!r}: {verdict.message}", completion.text))
        else:
            entry.update(verdict=verdict.value, reason=shorten(verdict.critique, 300))
        return entry

    async def _judge(self, sample: Sample, overrides: dict[str, Any] | None) -> Judgment:
        try:
            rubric = self.rubric_for(sample)
        except ValueError as error:
            return Judgment.fail("input", f"the sample's rubric cannot be read: {error}")
        if rubric is None or not rubric.criteria:
            return Judgment.fail("input", f"no rubric: the sample has no {self.options.rubric_field!r} field and no rubric_file is configured")
        entries = await asyncio.gather(*(self._criterion(sample, c, overrides) for c in rubric.criteria))
        details = {f"criterion_{i + 1}": {k: v for k, v in e.items() if k != "failure"} | ({"failure": e["failure"].to_dict()} if e.get("failure") else {}) for i, e in enumerate(entries)}
        usage: dict[str, int] = {}
        for e in entries:
            for k, v in (e.get("usage") or {}).items():
                usage[k] = usage.get(k, 0) + v
        meta = {"model": getattr(self.backend, "model", ""), "judge_calls": len(entries), "usage": usage}
        failed = [e for e in entries if e.get("failure")]
        if failed:
            first: Failure = failed[0]["failure"]
            return Judgment(score=None, rationale=f"{len(failed)} of {len(entries)} criteria could not be judged; first: {first.message}", details=details, failure=first, meta=meta)
        return self._aggregate(entries, details, meta)

    def _aggregate(self, entries: list[dict[str, Any]], details: dict[str, Any], meta: dict[str, Any]) -> Judgment:
        lines = []
        vetoes = []
        for e in entries:
            mark = {"met": "met", "not_met": "NOT met", "cannot_assess": "cannot assess"}[e["verdict"]]
            lines.append(f"[{mark}] {e['criterion']} (w {e['weight']:g}{', hard rule' if e['kind'] == 'hard_rule' else ''}): {e.get('reason', '')}")
            broken = (e["weight"] >= 0 and e["verdict"] == "not_met") or (e["weight"] < 0 and e["verdict"] == "met")
            if e["kind"] == "hard_rule" and broken:
                vetoes.append(e["criterion"])
        assessed = [e for e in entries if e["verdict"] != "cannot_assess"]
        positive = sum(e["weight"] for e in assessed if e["weight"] > 0)
        met = sum(e["weight"] for e in assessed if e["verdict"] == "met")
        counts = f"{sum(e['verdict'] == 'met' for e in entries)} met, {sum(e['verdict'] == 'not_met' for e in entries)} not met, {sum(e['verdict'] == 'cannot_assess' for e in entries)} cannot assess"
        meta["vetoed_by"] = vetoes
        if vetoes and self.options.veto:  # type: ignore[attr-defined]
            return Judgment(score=0.0, rationale=f"vetoed: hard rule {vetoes[0]!r} failed ({counts}). " + " | ".join(lines), details=details, meta=meta)
        if positive <= 0:
            return Judgment(score=None, rationale=f"abstained: no positively weighted criterion could be assessed ({counts}). " + " | ".join(lines), details=details, meta=meta)
        score = met / positive
        return Judgment(score=score, rationale=f"{met:g} of {positive:g} weight met = {score:.3g} ({counts}). " + " | ".join(lines), details=details, meta=meta)


# --- generation -----------------------------------------------------------------------------------------------------


class GenerationError(ValueError):
    """A rubric could not be generated (backend failure or unreadable output); ``failure`` says why."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def parse_rubric(raw: str) -> Rubric | Failure:
    """The last JSON array of criteria in a generator's output."""
    text = prepare(raw)
    if isinstance(text, Failure):
        return text
    if ends_mid_instruction(text):
        return Failure("parse", "the generator's output ends in the middle of the prompt's instructions: the prompt was echoed back and cut off (max_tokens?)", raw)
    found = json_objects(text)
    kept = [(start, end, value) for start, end, value in found if not echoed_at(text, start, end)]  # the prompt's own example, echoed
    arrays = [value for _, _, value in kept if isinstance(value, list) and value]
    objects = [value.get("criteria") for _, _, value in kept if isinstance(value, dict) and isinstance(value.get("criteria"), list)]
    candidates = arrays + objects
    if not candidates:
        echo = " (the only one was the prompt's own example, echoed back)" if len(kept) < len(found) else ""
        return Failure("parse", f"no JSON array of criteria found in the generator's output{echo}", raw)
    try:
        rubric = Rubric.coerce(candidates[-1])
    except ValueError as error:
        return Failure("parse", f"the generated rubric is malformed: {error}", raw)
    if not rubric.criteria:
        return Failure("parse", "the generated rubric has no criteria", raw)
    return rubric


async def _generate(backend: Backend, options: BackendOptions, prompt_name: str, values: dict[str, str], provenance: dict[str, Any]) -> Rubric:
    from assay.backends.base import BackendError
    from assay.backends.settings import sampling_params

    system, user = prompting.render(prompt_name, **values)
    try:
        completion = await backend.complete(prompting.messages(system, user), **sampling_params(options))
    except BackendError as error:
        raise GenerationError(Failure(error.kind, str(error), error.body)) from None  # type: ignore[arg-type]
    rubric = parse_rubric(completion.text)
    if isinstance(rubric, Failure):
        raise GenerationError(rubric)
    rubric.provenance = {
        **provenance,
        "generator_model": completion.model or backend.model,
        "prompt": prompt_name,
        "prompt_version": prompting.prompt_version(prompt_name),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "usage": completion.usage,
    }
    return rubric


async def generate_rubric(backend: Backend, prompt: Any, reference: Any = None, min_criteria: int = 3, max_criteria: int = 8, options: BackendOptions | None = None) -> Rubric:
    """A rubric for a prompt, written by the judge model; raises GenerationError on failure."""
    options = options or BackendOptions()
    values = {
        "guard": prompting.GUARD,
        "question": prompting.fence("question", prompt_text(prompt)),
        "reference": prompting.fence("reference_answer", reference_shown(reference)) if reference_shown(reference) else "",
        "min_criteria": str(min_criteria),
        "max_criteria": str(max_criteria),
    }
    return await _generate(backend, options, "rubric_generate", values, {"method": "from_prompt", "prompt_text": shorten(prompt_text(prompt), 500)})


async def contrastive_rubric(
    backend: Backend,
    prompt: Any,
    chosen: str,
    rejected: str,
    min_criteria: int = 3,
    max_criteria: int = 8,
    options: BackendOptions | None = None,
    consistency_filter: bool = True,
    judge: RubricReward | None = None,
) -> Rubric | None:
    """A rubric from a preferred and a rejected response (OpenRubrics' contrastive generation).

    With ``consistency_filter`` the rubric is applied to both responses (by ``judge``, or a
    RubricReward on the same backend) and kept only if it scores ``chosen`` strictly above
    ``rejected``; otherwise None is returned. The check's scores go into the provenance.
    """
    options = options or BackendOptions()
    values = {
        "guard": prompting.GUARD,
        "question": prompting.fence("question", prompt_text(prompt)),
        "chosen": prompting.fence("chosen", chosen),
        "rejected": prompting.fence("rejected", rejected),
        "min_criteria": str(min_criteria),
        "max_criteria": str(max_criteria),
    }
    rubric = await _generate(backend, options, "rubric_contrastive", values, {"method": "contrastive", "prompt_text": shorten(prompt_text(prompt), 500)})
    if not consistency_filter:
        return rubric
    judge = judge or RubricReward(client=backend, **{k: v for k, v in options.model_dump().items() if k in RubricOptions.model_fields and k != "max_tokens"})
    rubric_value = rubric.to_dict()
    chosen_judgment, rejected_judgment = await judge.ascore([
        Sample(prompt=prompt, response=chosen, extra={judge.options.rubric_field: rubric_value}),  # type: ignore[attr-defined]
        Sample(prompt=prompt, response=rejected, extra={judge.options.rubric_field: rubric_value}),  # type: ignore[attr-defined]
    ])
    for judgment in (chosen_judgment, rejected_judgment):
        if judgment.failure is not None:  # a check that could not run is not a verdict of "inconsistent"
            raise GenerationError(Failure(judgment.failure.kind, f"the consistency check could not score the rubric: {judgment.failure.message}", judgment.failure.raw))
    rubric.provenance["consistency"] = {"chosen_score": chosen_judgment.score, "rejected_score": rejected_judgment.score}
    if chosen_judgment.ok and rejected_judgment.ok and chosen_judgment.score > rejected_judgment.score:  # type: ignore[operator]
        rubric.provenance["consistency"]["kept"] = True
        return rubric
    return None
