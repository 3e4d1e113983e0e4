"""assay: rewards for LLM post-training where every score comes with its reason.

    >>> import assay
    >>> reward = assay.load_reward({"rewards": {"em": {"type": "exact_match"}}})
    >>> [j.score for j in reward.score([assay.Sample(response="Paris", reference="paris")])]
    [1.0]

Importing assay is light: no torch, transformers or fastapi until a reward needs them.
"""

from assay.compose.load import ConfigError, load_comparator, load_reward
from assay.reward import Comparator, FunctionReward, Reward, reward, run_sync
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
