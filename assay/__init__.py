"""assay: rewards for LLM post-training where every score comes with its reason.

    >>> import assay
    >>> reward = assay.load_reward({"rewards": {"em": {"type": "exact_match"}}})
    >>> [j.score for j in reward.score([assay.Sample(response="Paris", reference="paris")])]
    [1.0]

Importing assay is light: it loads the core modules only (``types``, ``reward``, ``spec``;
pinned by tests/test_layers.py), no torch, transformers or fastapi, and not the judge stack
or the bench. ``load_reward`` and ``load_comparator`` live in ``assay.compose.load``, which is
imported on their first use.
"""

from typing import Any

from assay.reward import Comparator, FunctionReward, Reward, reward, run_sync
from assay.spec import ConfigError
from assay.types import Failure, Judgment, Pair, Preference, Sample

__version__ = "0.1.0"

__all__ = [
    "Comparator",
    "ConfigError",
    "Failure",
    "FunctionReward",
    "Judgment",
    "Pair",
    "Preference",
    "Reward",
    "Sample",
    "load_comparator",
    "load_reward",
    "reward",
    "run_sync",
]

_BUILDERS = ("load_comparator", "load_reward")


def __getattr__(name: str) -> Any:
    """``assay.load_reward`` and ``assay.load_comparator``, imported from the builder on first use."""
    if name in _BUILDERS:
        from assay.compose import load

        return getattr(load, name)
    raise AttributeError(f"module 'assay' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_BUILDERS))
