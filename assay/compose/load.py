"""The builder: a config, read once by ``assay.spec.read_config``, into the rewards it describes.

``build_composite(loaded)`` and ``build_comparator(loaded)`` take a :class:`~assay.spec.LoadedConfig`
and construct each named reward from the registry, checking its options against the type's
``Options`` model (a typo is an error that names the file, the reward and the key), wrapping
it in ``Vote`` when the entry asks for votes, and composing the whole into a
:class:`~assay.compose.composite.CompositeReward`. ``load_reward(config)`` and
``load_comparator(config)`` (``assay.load_reward``, ``assay.load_comparator``) accept a path,
a dict or an already loaded config, and read a path or dict exactly once.

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

What this is not: the schema (``assay.spec``) or the combination rules (``assay.compose.rules``).
The judge wrappers (``Vote``, ``Swap``) are imported only when a config asks for them, so
building a config of rule rewards never loads the judge stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assay.compose.composite import CompositeReward
from assay.registry import build_reward, comparator_class, construct
from assay.reward import Comparator, Reward, ScoreComparator
from assay.spec import ConfigError, LoadedConfig, VoteOptions, read_config

Config = str | Path | dict[str, Any] | LoadedConfig

__all__ = ["ConfigError", "LoadedConfig", "build_comparator", "build_composite", "load_comparator", "load_reward", "loaded", "read_config", "with_calibration", "with_vote"]


def loaded(config: Config) -> LoadedConfig:
    """The config read and validated, or the already loaded config itself (never read twice)."""
    return config if isinstance(config, LoadedConfig) else read_config(config)


def build_composite(config: LoadedConfig) -> CompositeReward:
    """The composed reward a loaded config describes."""
    spec, path = config.spec, config.path
    if not spec.rewards:
        raise ConfigError(f"{config.source}: this config has no 'rewards' (it names only a comparator); add rewards to score samples")
    components: dict[str, Reward] = {}
    for reward_name, entry in spec.rewards.items():
        try:
            judged = with_vote(build_reward(entry.type, reward_name, entry.options, config.base_dir), entry.vote, reward_name)
            components[reward_name] = with_calibration(judged, entry.calibration, config.base_dir, f"rewards.{reward_name}.calibration")
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}" if path else str(error)) from None
    return CompositeReward(components, spec)


def build_comparator(config: LoadedConfig, reward: Reward | None = None) -> Comparator:
    """The pairwise judge a loaded config names under ``comparator:`` (with its ``vote`` and
    ``swap``); without one, the composed reward (``reward``, or built here) deciding each pair
    by the higher score."""
    entry = config.spec.comparator
    if entry is None:
        return ScoreComparator(reward if reward is not None else build_composite(config))
    name = entry.name or entry.type
    try:
        cls = comparator_class(entry.type)
    except KeyError as error:
        raise ConfigError(f"{config.source}: comparator.type: {error.args[0]}") from None
    try:
        comparator = construct(cls, name, entry.options, config.base_dir, "comparator")
    except ConfigError as error:
        raise ConfigError(f"{config.path}: {error}" if config.path else str(error)) from None
    comparator = with_vote(comparator, entry.vote, name)
    if entry.swap_rule:
        from assay.rewards.judges.wrappers import Swap

        comparator = Swap(comparator, rule=entry.swap_rule, name=name)
    try:
        return with_calibration(comparator, entry.calibration, config.base_dir, "comparator.calibration")
    except ConfigError as error:
        raise ConfigError(f"{config.path}: {error}" if config.path else str(error)) from None


def with_vote(judge: Any, vote: VoteOptions | dict[str, Any] | None, name: str) -> Any:
    """The judge wrapped in ``Vote`` when the config asks for votes, else the judge itself."""
    if vote is None:
        return judge
    from assay.rewards.judges.wrappers import Vote

    options = vote.model_dump() if isinstance(vote, VoteOptions) else vote
    return Vote(judge, name=name, **options)


def with_calibration(judge: Any, path: str | None, base_dir: Path, where: str) -> Any:
    """The judge with a saved calibration applied (``calibration: fit.json``), else the judge itself."""
    if path is None:
        return judge
    from assay.rewards.calibration.calibrated import CalibratedComparator, CalibratedReward
    from assay.rewards.calibration.fit_file import FitFileError

    fit = Path(path) if Path(path).is_absolute() else base_dir / path
    try:
        return CalibratedComparator(judge, fit) if judge.pairwise else CalibratedReward(judge, fit)
    except FitFileError as error:
        raise ConfigError(f"{where}: {error}") from None


def load_reward(config: Config) -> Any:
    """Build the composed reward a config describes: ``score(samples)`` gives one Judgment per
    sample with the total as ``score`` and each component's Judgment in ``details``."""
    return build_composite(loaded(config))


def load_comparator(config: Config) -> Any:
    """The pairwise judge a config names under ``comparator:``; otherwise the composed reward,
    deciding each pair by the higher score."""
    return build_comparator(loaded(config))
