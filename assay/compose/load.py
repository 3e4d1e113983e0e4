"""Reward specs: a YAML (or TOML) file, or the same structure as a dict, into a reward graph.

The pydantic models below mirror the file. Keys of a reward entry other than the
composition keys (``type``, ``weight``, ``only_if``, ...) are that reward type's options,
checked against its ``Options`` model, so a typo is an error that names the reward and key.

    rewards:
      correct:  {type: math, weight: 1.0}
      format:   {type: regex, pattern: "<answer>.*</answer>", weight: 0.2}
      brevity:  {type: length_penalty, max_tokens: 512, weight: 0.1}
    combine: {method: weighted_sum, on_failure: fail}

    >>> from assay.compose.load import load_reward
    >>> from assay.types import Sample
    >>> r = load_reward({"rewards": {"em": {"type": "exact_match"}}})
    >>> r.score([Sample(response="Paris", reference="paris")])[0].score
    1.0
"""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assay.registry import comparator_class, reward_class
from assay.rewards.judges.wrappers import Vote, VoteOptions


class ConfigError(ValueError):
    """A reward config that cannot be built; the message names the file, the entry and the key."""


class ScheduleSpec(BaseModel):
    """A weight annealed over training steps (Trust-GRPO-style), see compose.scheduled_weight."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a NaN or infinite weight is refused at load
    start: float
    end: float
    steps: int = Field(gt=0)
    kind: Literal["constant", "linear", "cosine"] = "linear"


class RewardEntry(BaseModel):
    """One named reward: its type, how it counts in the total, and its own options."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)  # NaN or infinite weights are refused at load
    type: str
    weight: float = 1.0
    only_if: str | None = None  # positive-only: counts only when this reward >= only_if_threshold
    only_if_threshold: float = 1.0
    center: float = 0.0  # for combine.method log_sigmoid_sum
    schedule: ScheduleSpec | None = None  # weight annealed over training steps
    trust_against: str | None = None  # weight scaled by agreement with this (rule) reward
    vote: VoteOptions | None = None  # judge each sample k times and aggregate (LLM judges; see assay.rewards.judges.wrappers.Vote)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


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
    normalize: Literal["none", "group_zscore", "group_rank"] = "none"
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
        if self.method == "log_sigmoid_sum" and self.on_failure != "fail":
            raise ValueError("method log_sigmoid_sum fails the total when a counted component fails; on_failure must be 'fail'")
        return self


class RewardConfig(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")
    rewards: dict[str, RewardEntry] = Field(min_length=1)
    combine: CombineSpec = Field(default_factory=CombineSpec)
    comparator: dict[str, Any] | None = None  # for `assay compare`: {type: pairwise_judge, ...}

    @model_validator(mode="after")
    def _check_names(self) -> RewardConfig:
        names = set(self.rewards)
        referenced = [(f"combine.gates[{i}].reward", g.reward) for i, g in enumerate(self.combine.gates)]
        referenced += [(f"rewards.{n}.only_if", e.only_if) for n, e in self.rewards.items() if e.only_if]
        referenced += [(f"rewards.{n}.trust_against", e.trust_against) for n, e in self.rewards.items() if e.trust_against]
        referenced += [(f"combine.{k}", getattr(self.combine, k)) for k in ("outcome", "process") if getattr(self.combine, k)]
        for where, name in referenced:
            if name not in names:
                raise ValueError(f"{where} names {name!r}, which is not a reward here (known: {', '.join(sorted(names))})")
        return self


def read_config(source: str | Path | dict[str, Any]) -> tuple[RewardConfig, Path | None]:
    """Parse and validate a config from a path (YAML or TOML) or a dict."""
    path: Path | None = None
    if isinstance(source, dict):
        data = source
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
        return RewardConfig.model_validate(data), path
    except ValidationError as error:
        raise ConfigError(_explain(error, path)) from error


def _explain(error: ValidationError, path: Path | None, prefix: str = "") -> str:
    where = f"{path}: " if path else "config: "
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        lines.append(f"{where}{location}: {item['msg']}")
    return "\n".join(lines)


def build_reward(type_name: str, name: str, options: dict[str, Any], base_dir: Path | None = None) -> Any:
    """Construct one registered reward (or comparator) type from its options, checked against its Options model."""
    try:
        cls = reward_class(type_name)
    except KeyError as error:
        raise ConfigError(f"rewards.{name}.type: {error.args[0]}") from None
    return _construct(cls, name, options, base_dir, f"rewards.{name}")


def _construct(cls: Any, name: str, options: dict[str, Any], base_dir: Path | None, where: str) -> Any:
    """``cls(name=..., **options)``: the type's constructor checks the options against its
    Options model (once); a bad key or value becomes a ConfigError that names the entry."""
    kwargs = dict(options)
    if base_dir is not None and "base_dir" in inspect.signature(cls.__init__).parameters:
        kwargs["base_dir"] = base_dir
    try:
        return cls(name=name, **kwargs)
    except ValidationError as error:
        raise ConfigError(_explain(error, None, where).replace("config: ", "")) from None


def needs_whole_groups(spec: RewardConfig) -> bool:
    """Whether scoring needs every sample of a group in one batch: a group-level combine step
    (normalisation, outcome+process, trust weights) or a component that judges within groups."""
    combine = spec.combine
    if combine.normalize != "none" or combine.method == "outcome_process" or any(e.trust_against for e in spec.rewards.values()):
        return True
    return any(getattr(reward_class(e.type), "needs_whole_groups", False) for e in spec.rewards.values())


def load_reward(config: str | Path | dict[str, Any]) -> Any:
    """Build the composed reward a config describes: ``score(samples)`` gives one Judgment per
    sample with the total as ``score`` and each component's Judgment in ``details``."""
    from assay.compose.composite import CompositeReward

    spec, path = read_config(config)
    base_dir = path.parent if path else Path.cwd()
    components = {}
    for name, entry in spec.rewards.items():
        try:
            components[name] = with_vote(build_reward(entry.type, name, entry.options, base_dir), entry.vote, name)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}" if path else str(error)) from None
    return CompositeReward(components, spec)


def with_vote(judge: Any, vote: VoteOptions | dict[str, Any] | None, name: str) -> Any:
    """The judge wrapped in ``Vote`` when the config asks for votes, else the judge itself."""
    if vote is None:
        return judge
    options = vote.model_dump() if isinstance(vote, VoteOptions) else vote
    return Vote(judge, name=name, **options)


def load_comparator(config: str | Path | dict[str, Any]) -> Any:
    """The pairwise judge a config names under ``comparator:``; otherwise the composed reward,
    deciding each pair by the higher score."""
    from assay.reward import ScoreComparator

    spec, path = read_config(config) if not (isinstance(config, dict) and "rewards" not in config) else (None, None)
    raw = spec.comparator if spec else config.get("comparator")  # type: ignore[union-attr]
    if raw:
        options = dict(raw)
        type_name = options.pop("type", None)
        name = options.pop("name", type_name or "comparator")
        swap = options.pop("swap", None)  # true / "tie" / "judgebench": judge both orders
        vote = options.pop("vote", None)
        try:
            cls = comparator_class(type_name)
        except KeyError as error:
            raise ConfigError(f"comparator.type: {error.args[0]}") from None
        comparator = _construct(cls, name, options, path.parent if path else Path.cwd(), "comparator")
        try:
            comparator = with_vote(comparator, vote, name)
        except ValidationError as error:
            raise ConfigError(_explain(error, path, "comparator.vote")) from None
        if swap:
            from assay.rewards.judges.wrappers import Swap

            if swap not in (True, "tie", "judgebench"):
                raise ConfigError("comparator.swap: expected true, 'tie' or 'judgebench'")
            comparator = Swap(comparator, rule="tie" if swap is True else swap, name=name)
        return comparator
    return ScoreComparator(load_reward(config))
