"""What the trainer adapters share: a reward loaded once per config and process, and one
policy for a total that could not be computed.

Trainers call reward functions thousands of times; loading the config (and any model it
names) on each call would dominate. ``cached_reward(config)`` builds the reward the first
time a config is seen in this process and returns the same object afterwards; a config is
a path (keyed by its resolved path and modification time, so an edited file is reloaded) or
a dict (keyed by its JSON form).

The failure policy (veRL and OpenRLHF need a number for every sample; TRL does not):

- TRL: a failed score is ``None``, which TRL reads as NaN, "does not apply".
- veRL and OpenRLHF: a failed total is ``NaN`` unless you choose a ``failure_score``
  (``failure_score=0.0`` in the reward kwargs, or ``ASSAY_FAILURE_SCORE``). A NaN makes a
  broken reward visible in the training curves instead of training on a made-up number;
  a chosen ``failure_score`` is an explicit, documented penalty. Either way the sample
  carries ``failed = 1`` and its failure kind and message, so failures are counted.

    >>> from assay.integrations.common import cached_reward
    >>> r = cached_reward({"rewards": {"em": {"type": "exact_match"}}})
    >>> r is cached_reward({"rewards": {"em": {"type": "exact_match"}}})
    True
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.compose.composite import CompositeReward
from assay.reward import Reward
from assay.spec import LoadedConfig, read_config
from assay.types import Judgment, outcome

CONFIG_ENV = "ASSAY_CONFIG"
FAILURE_SCORE_ENV = "ASSAY_FAILURE_SCORE"

_REWARDS: dict[Any, Any] = {}
_READ: dict[Any, LoadedConfig] = {}
_LOCK = threading.Lock()


def config_key(config: str | os.PathLike[str] | dict[str, Any]) -> Any:
    """A hashable key for a config: its resolved path and mtime, or its JSON text."""
    if isinstance(config, dict):
        return ("dict", json.dumps(config, sort_keys=True, default=str))
    path = Path(config).expanduser().resolve()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = None
    return ("path", str(path), mtime)


def resolve_config(config: str | os.PathLike[str] | dict[str, Any] | None) -> str | os.PathLike[str] | dict[str, Any]:
    """The config given, else ``$ASSAY_CONFIG``; a clear error when neither is set."""
    if config is not None and config != "":
        return config
    env = os.environ.get(CONFIG_ENV)
    if env:
        return env
    raise ValueError(
        f"no assay config: pass config=... (for veRL, in reward.custom_reward_function.reward_kwargs) "
        f"or set the {CONFIG_ENV} environment variable to a reward config file"
    )


def read_once(config: str | os.PathLike[str] | dict[str, Any]) -> LoadedConfig:
    """The config read and validated once per process (and file version): an adapter that
    checks the config up front and later builds the reward reads the file once."""
    key = config_key(config)
    with _LOCK:
        loaded = _READ.get(key)
    if loaded is None:
        loaded = read_config(config)
        with _LOCK:
            loaded = _READ.setdefault(key, loaded)
    return loaded


def cached_reward(config: str | os.PathLike[str] | dict[str, Any]) -> CompositeReward:
    """The reward a config builds, loaded once per process and config."""
    from assay.compose.load import build_composite

    key = config_key(config)
    with _LOCK:
        reward = _REWARDS.get(key)
    if reward is None:
        loaded = read_once(config)
        with _LOCK:
            reward = _REWARDS.get(key)
            if reward is None:
                reward = build_composite(loaded)
                _REWARDS[key] = reward
    return reward


def resolve_failure_score(value: float | str | None) -> float:
    """The number a failed total becomes where a trainer needs one: the value given, else
    ``$ASSAY_FAILURE_SCORE``, else NaN (see the module docstring)."""
    if value is None or value == "":
        value = os.environ.get(FAILURE_SCORE_ENV)
    if value is None or value == "":
        return math.nan
    return float(value)


def set_step(reward: Any, step: int | None) -> None:
    """Give the trainer's step to a reward and every component under it that keeps one: the
    composite's weight schedules read it, a ``remote`` component sends it to its server (whose
    schedules then move). None (the trainer gave no step) changes nothing."""
    if step is None:
        return
    todo, seen = [reward], set()
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if hasattr(item, "step"):
            item.step = int(step)
        components = getattr(item, "components", None)
        if isinstance(components, dict):
            todo.extend(components.values())


def component_names(reward: Reward) -> list[str]:
    """The named components of a composed reward (a plain reward is its own component)."""
    return list(reward.components) if isinstance(reward, CompositeReward) else [reward.name]


def component_judgment(judgment: Judgment, name: str) -> Judgment | None:
    """One component's Judgment inside a total's details (None when absent)."""
    value = judgment.details.get(name)
    return value if isinstance(value, Judgment) else None


def numeric(value: float | None) -> float:
    """A score as a float for trainers' logs: None becomes NaN (never 0)."""
    return math.nan if value is None else float(value)


# --- per-component series: what every trainer's logs get, one series per component -------------
def component_paths(reward: Reward) -> dict[str, tuple[str, ...]]:
    """The series a reward's judgments are logged under, each with its path in a total's
    details: every named component (``name``), and under a ``remote`` component each of its
    server's components (``name/server_component``), whose judgments the server sent back
    in the remote judgment's details."""
    components = reward.components if isinstance(reward, CompositeReward) else {reward.name: reward}
    paths: dict[str, tuple[str, ...]] = {}
    for name, component in components.items():
        paths[name] = (name,)
        served = getattr(component, "served_components", None)
        if callable(served):
            for sub in served():
                paths[f"{name}/{sub}"] = (name, sub)
    return paths


def judgment_at(judgment: Judgment, path: tuple[str, ...]) -> Judgment | None:
    """The judgment at ``path`` inside a total's details (None when it is not there: a remote
    component that failed as a whole has no server components)."""
    current: Judgment | None = judgment
    for key in path:
        value = current.details.get(key) if current is not None else None
        current = value if isinstance(value, Judgment) else None
    return current


def series_failed(judgment: Judgment | None) -> bool:
    """A component's judgment counts as failed when it has a failure or was not computed (an
    abstention is not a failure)."""
    return judgment is None or judgment.failure is not None


def labelled(judgment: Judgment | None) -> str:
    """A rationale as logged: a failure's kind first, so failures read as failures."""
    if judgment is None:
        return "[missing] not computed"
    if judgment.failure is not None:
        return f"[{judgment.failure.kind} failure] {judgment.rationale}"
    return judgment.rationale


@dataclass
class ComponentSummary:
    """One component over a batch: the mean of the scores it computed (None when none), how
    many it scored, and how many failed (or were not computed)."""

    mean: float | None
    scored: int
    failures: int


def summarize(judgments: list[Judgment], paths: dict[str, tuple[str, ...]]) -> dict[str, ComponentSummary]:
    """Each series' summary over a batch (see :class:`ComponentSummary`)."""
    out = {}
    for name, path in paths.items():
        found = [judgment_at(j, path) for j in judgments]
        scores = [float(c.score) for c in found if c is not None and c.ok]  # type: ignore[arg-type]
        failures = sum(1 for c in found if series_failed(c))
        out[name] = ComponentSummary(sum(scores) / len(scores) if scores else None, len(scores), failures)
    return out


RESERVED_KEYS = ("score", "failed", "failure_kind", "rationale")


def component_key(name: str) -> str:
    """The key a component's score gets in a flat result (prefixed when it clashes)."""
    return f"reward_{name}" if name in RESERVED_KEYS else name


def flat_result(judgment: Judgment, names: list[str] | dict[str, tuple[str, ...]], failure_score: float, rationales: bool = False) -> dict[str, Any]:
    """The fixed-key dict a veRL sample (or an OpenRLHF log row) gets: ``score``, ``failed``,
    ``failure_kind``, ``rationale``; per component series (``component_paths``: a remote
    component's server components too) its score (NaN when it failed) and ``<name>/failed``
    (1 when it failed or was not computed); with ``rationales``, ``rationale/<name>``."""
    failed = not judgment.ok
    out: dict[str, Any] = {
        "score": failure_score if failed else float(judgment.score),  # type: ignore[arg-type]
        "failed": 1 if failed else 0,
        "failure_kind": "" if outcome(judgment) == "scored" else outcome(judgment),
        "rationale": judgment.rationale,
    }
    paths = names if isinstance(names, dict) else {name: (name,) for name in names}
    for name, path in paths.items():
        component = judgment_at(judgment, path)
        out[component_key(name)] = numeric(component.score if component else None)
    for name, path in paths.items():
        out[f"{name}/failed"] = 1 if series_failed(judgment_at(judgment, path)) else 0
    if rationales:
        for name, path in paths.items():
            out[f"rationale/{name}"] = labelled(judgment_at(judgment, path))
    return out


def flat_results(judgments: list[Judgment], reward: Any, failure_score: float, rationales: bool = False) -> list[dict[str, Any]]:
    """``flat_result`` for a batch, with the reward's component series."""
    paths = component_paths(reward)
    return [flat_result(j, paths, failure_score, rationales) for j in judgments]


def group_refusal(reward: Reward, where: str, instead: str) -> Judgment | None:
    """The ``input`` failure a one-sample protocol gives for a config that scores within
    groups (normalisation, trust weights, group judges): one sample alone would get a made-up
    group statistic (a z-score of 0). None when the config scores samples on their own."""
    if not getattr(reward, "needs_whole_groups", False):
        return None
    return Judgment.fail("input", f"{where} scores one sample at a time, and this config scores samples within their group; {instead}")
