"""The config file's schema: pydantic models that mirror the file, and ``read_config``, which
reads and validates a file (or a dict) once.

A config is read once per run: ``read_config(path | dict)`` gives a :class:`LoadedConfig`
holding the validated spec, the file's path, the exact text that was parsed and a hash of
that text. Everything a run does with the config (build the rewards, choose a benchmark
mode, hash it for resuming) works from that one object, never by reading the file again.

    rewards:
      correct:  {type: math, weight: 1.0}
      format:   {type: regex, pattern: "<answer>.*</answer>", weight: 0.2}
    combine: {method: weighted_sum, on_failure: fail}
    comparator: {type: pairwise_judge, base_url: "http://127.0.0.1:8080/v1", swap: true}

    >>> from assay.spec import read_config
    >>> loaded = read_config({"rewards": {"em": {"type": "exact_match"}}})
    >>> list(loaded.spec.rewards), loaded.path
    (['em'], None)

What this is not: the builder. The keys of a reward entry other than the composition keys
(``type``, ``weight``, ``only_if``, ...) are that reward type's options; they are checked
against the type's own ``Options`` model when ``assay.compose.load`` builds it, because the
type is only known (and imported) then. This module imports no reward type.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assay.reward import Options


class ConfigError(ValueError):
    """A reward config that cannot be read or built; the message names the file, the entry and the key."""


class ScheduleSpec(BaseModel):
    """A weight annealed over training steps (Trust-GRPO-style), see compose.rules.scheduled_weight."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    start: float
    end: float
    steps: int = Field(gt=0)
    kind: Literal["constant", "linear", "cosine"] = "linear"


class AdaptiveSpec(BaseModel):
    """A weight that decays as its reward saturates (prime-rl's adaptive weights), see
    compose.rules.adaptive_weight. State is kept across batches by the composite reward."""

    model_config = ConfigDict(extra="forbid")
    saturation: float = Field(gt=0)  # the batch-mean EMA at which the weight reaches its floor (e.g. 0.95 for a 0/1 reward)
    ema_alpha: float = Field(default=0.1, gt=0, le=1)
    exponent: float = Field(default=2.0, gt=0)
    min_weight: float = Field(default=0.1, ge=0, le=1)  # the floor, as a fraction of the configured weight
    recovery_rate: float = Field(default=0.05, ge=0, le=1)  # how fast a decayed weight may come back, per batch


class VoteOptions(Options):
    """``vote:`` on a reward or the comparator: judge each item k times and aggregate (see
    ``assay.rewards.judges.wrappers.Vote``, whose options these are)."""

    k: int = Field(default=5, ge=1)  # votes per item
    aggregate: Literal["mean", "median", "majority"] = "mean"  # for scores; verdicts always go by majority
    temperature: float = 0.7  # sampling temperature of every vote
    seed: int = 0  # each vote's seed is derived from (seed, item, vote number)
    min_valid: int | None = None  # votes that must succeed; default a majority of k (k // 2 + 1)

    @model_validator(mode="after")
    def _check_temperature(self) -> VoteOptions:
        if self.k > 1 and self.temperature <= 0:
            raise ValueError(f"temperature must be above 0 when k > 1 (votes at temperature 0 are identical), got {self.temperature:g}")
        return self


class RewardEntry(BaseModel):
    """One named reward: its type, how it counts in the total, and its own options."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)  # a NaN or infinite weight is refused at load
    type: str
    weight: float = 1.0
    only_if: str | None = None  # positive-only: counts only when this reward >= only_if_threshold
    only_if_threshold: float = 1.0
    center: float = 0.0  # for combine.method log_sigmoid_sum
    schedule: ScheduleSpec | None = None  # weight annealed over training steps
    adaptive: AdaptiveSpec | None = None  # weight decayed as this reward saturates (prime-rl), across batches
    trust_against: str | None = None  # weight scaled by agreement with this (rule) reward
    vote: VoteOptions | None = None  # judge each sample k times and aggregate (LLM judges)
    calibration: str | None = None  # a fit file of `assay calibrate` (relative to the config): scores become P(correct)

    @property
    def options(self) -> dict[str, Any]:
        """The reward type's own options: every key that is not a composition key."""
        return dict(self.model_extra or {})


class ComparatorEntry(BaseModel):
    """``comparator:``: the pairwise judge ``assay compare``, ``assay bench`` and the server's
    ``/v1/compare`` use instead of comparing the rewards' totals."""

    model_config = ConfigDict(extra="allow")
    type: str
    name: str | None = None
    swap: Any = None  # true / "tie" / "judgebench": judge both orders (see wrappers.Swap)
    vote: VoteOptions | None = None
    calibration: str | None = None  # a fit file of `assay calibrate`: P(A) mapped through it (verdicts unchanged)

    @field_validator("swap")
    @classmethod
    def _check_swap(cls, value: Any) -> Any:
        if value is None or value is False or value is True or value in ("tie", "judgebench"):
            return value
        raise ValueError(f"expected true, 'tie' or 'judgebench', got {value!r}")

    @property
    def options(self) -> dict[str, Any]:
        """The comparator type's own options: every key besides type, name, swap, vote and calibration."""
        return dict(self.model_extra or {})

    @property
    def swap_rule(self) -> str | None:
        """How the two orders combine, or None when the comparator judges one order."""
        if not self.swap:
            return None
        return "tie" if self.swap is True else str(self.swap)


class GateSpec(BaseModel):
    """A bottom-line constraint: when ``reward`` scores below ``below``, the total is capped at ``cap``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    reward: str
    below: float = 1.0
    cap: float = 0.0


class CombineSpec(BaseModel):
    """How component scores become the total."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    method: Literal["weighted_sum", "log_sigmoid_sum", "outcome_process"] = "weighted_sum"
    on_failure: Literal["fail", "skip", "value"] = "fail"
    failure_value: float | None = None
    gates: list[GateSpec] = Field(default_factory=list)
    normalize: Literal["none", "group_zscore", "group_rank"] = "none"  # of the total, after the sum
    # normalize_then_sum: each component z-scored within its group before the weighted sum (GDPO, TRL's option of that name)
    aggregation: Literal["sum_then_normalize", "normalize_then_sum"] = "sum_then_normalize"
    outcome: str | None = None  # for method outcome_process
    process: str | None = None
    process_weight: float = 0.5

    @model_validator(mode="after")
    def _check(self) -> CombineSpec:
        if self.on_failure == "value" and self.failure_value is None:
            raise ValueError("on_failure 'value' needs failure_value")
        if self.method == "outcome_process" and not (self.outcome and self.process):
            raise ValueError("method outcome_process needs 'outcome' and 'process' reward names")
        if self.method == "outcome_process" and (self.gates or self.normalize != "none"):
            raise ValueError("method outcome_process sets the total itself (normalised within groups); gates and normalize do not apply to it")
        if self.aggregation == "normalize_then_sum" and self.method != "weighted_sum":
            raise ValueError(f"aggregation normalize_then_sum normalises the terms of a weighted sum; method {self.method!r} does not take it")
        if self.aggregation == "normalize_then_sum" and self.gates:
            raise ValueError("gates cap a total on the components' own scale; with aggregation normalize_then_sum the total has none (use only_if on a term instead)")
        if self.method == "log_sigmoid_sum" and self.on_failure != "fail":
            raise ValueError("method log_sigmoid_sum fails the total when a counted component fails; on_failure must be 'fail'")
        return self


class DataSpec(BaseModel):
    """``data:``: how ``assay bench pairs`` / ``bon`` read your own file (the command line's
    ``--field``, ``--label-map`` and ``--annotators`` override these)."""

    model_config = ConfigDict(extra="forbid")
    fields: dict[str, str] = Field(default_factory=dict)  # role -> your field name (prompt, response_a, label, ...)
    label_map: dict[str, str] = Field(default_factory=dict)  # your label value -> a, b or tie
    annotators: list[str] = Field(default_factory=list)  # several label fields: the label is their majority


class RewardConfig(BaseModel):
    """The whole file: named rewards and how they combine, and/or a comparator."""

    model_config = ConfigDict(extra="forbid")
    rewards: dict[str, RewardEntry] = Field(default_factory=dict)
    combine: CombineSpec = Field(default_factory=CombineSpec)
    comparator: ComparatorEntry | None = None
    data: DataSpec | None = None  # for assay bench pairs / bon --data FILE

    @model_validator(mode="after")
    def _check_names(self) -> RewardConfig:
        if not self.rewards and ("rewards" in self.model_fields_set or self.comparator is None):
            raise ValueError("a config needs at least one reward under 'rewards' (or, for comparing pairs only, a 'comparator')")
        names = set(self.rewards)
        combine = self.combine
        referenced = [(f"combine.gates[{i}].reward", g.reward) for i, g in enumerate(combine.gates)]
        referenced += [(f"rewards.{n}.only_if", e.only_if) for n, e in self.rewards.items() if e.only_if]
        referenced += [(f"rewards.{n}.trust_against", e.trust_against) for n, e in self.rewards.items() if e.trust_against]
        referenced += [(f"combine.{key}", name) for key, name in (("outcome", combine.outcome), ("process", combine.process)) if name]
        for n, e in self.rewards.items():
            if e.adaptive and e.schedule:
                raise ValueError(f"rewards.{n}: give schedule or adaptive, not both (each sets the weight)")
        for where, name in referenced:
            if name not in names:
                raise ValueError(f"{where} names {name!r}, which is not a reward here (known: {', '.join(sorted(names))})")
        return self

    def function_files(self) -> list[str]:
        """The ``file.py`` parts of the ``path:`` options of the rewards and the comparator
        (``type: function``) and a function comparator's ``verdicts:`` file, in config order:
        they decide scores as much as the text does."""
        entries = [entry.options for entry in self.rewards.values()] + ([self.comparator.options] if self.comparator else [])
        files = [str(options.get("path", "")).rpartition(":")[0] for options in entries]
        files += [str(options["verdicts"]) for options in entries if options.get("verdicts")]
        return [file for file in files if file.endswith((".py", ".jsonl", ".json"))]

    def calibration_files(self) -> list[str]:
        """The ``calibration:`` fit files of the rewards and the comparator, in config order:
        their contents decide scores as much as the text does."""
        entries = list(self.rewards.values()) + ([self.comparator] if self.comparator else [])
        return [entry.calibration for entry in entries if entry.calibration]


@dataclass(frozen=True)
class LoadedConfig:
    """A config read and validated once: the spec, where it came from, and exactly what was parsed.

    ``text`` is the file's text (or, for a dict, its canonical JSON form) and ``hash`` the
    first 16 hex digits of its SHA-256; ``base_dir`` is where relative files it names are
    looked for (the file's folder; the working directory for a dict)."""

    spec: RewardConfig
    path: Path | None
    text: str
    hash: str

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def source(self) -> str:
        """The file's path for messages, or ``config`` for a dict."""
        return str(self.path) if self.path else "config"


def read_config(source: str | Path | dict[str, Any]) -> LoadedConfig:
    """Parse and validate a config from a path (YAML, or TOML by its ``.toml`` suffix) or a dict."""
    import yaml

    path: Path | None = None
    if isinstance(source, dict):
        data = source
        text = json.dumps(source, sort_keys=True, default=str)
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        text = path.read_text()
        try:
            data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
        except (yaml.YAMLError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {error}") from error
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping with a 'rewards' key at the top")
    try:
        spec = RewardConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(explain(error, path)) from error
    return LoadedConfig(spec=spec, path=path, text=text, hash=hashlib.sha256(text.encode()).hexdigest()[:16])


def explain(error: ValidationError, path: Path | None, prefix: str = "") -> str:
    """A pydantic error as lines ``FILE: rewards.x.key: message`` (``config:`` for a dict)."""
    where = f"{path}: " if path else "config: "
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        lines.append(f"{where}{location}: {item['msg']}" if location else f"{where}{item['msg']}")
    return "\n".join(lines)
