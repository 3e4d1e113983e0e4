"""The ``assay`` reward manager for veRL's reward loop (its default reward path since 0.9).

veRL's reward loop runs reward-loop workers (Ray actors) that each build one reward manager
(a ``RewardManagerBase`` subclass, from veRL's registry or loaded by ``importlib``) and call
``await manager.run_single(data)`` once per response, ``data`` being a one-item DataProto.
``run_single`` returns ``{"reward_score": float, "reward_extra_info": {key: value}}``; veRL puts
the score on the response's last token and logs every ``reward_extra_info`` key (it takes the
keys of the first response, so every response must have the same keys).

:class:`AssayRewardLoopManager` scores the response with the assay config directly (no
``custom_reward_function`` needed), asynchronously on the worker's event loop, and answers
``reward_score`` (the total; NaN for a failed total unless ``failure_score`` is chosen) and
``reward_extra_info`` with the fixed keys of the other veRL adapters: ``score``, ``failed``,
``failure_kind``, ``rationale`` and one per named reward. Use it with::

    reward:
      reward_manager:
        source: importlib
        name: AssayRewardLoopManager
        module: {path: "pkg://assay.integrations.verl_reward_loop"}
      custom_reward_function:
        reward_kwargs: {config: /abs/path/rewards.yaml, failure_score: null}   # or ASSAY_CONFIG

(``source: register, name: assay`` works where the driver and the workers import this module
first.) The config is read from ``reward.custom_reward_function.reward_kwargs`` (veRL 0.9.1),
else the top-level ``custom_reward_function.reward_kwargs`` (earlier reward-loop releases),
else ``ASSAY_CONFIG``. The prompt is ``extra_info``'s ``prompt``/``question`` when the dataset
has one, else the decoded prompt tokens. A config that scores within groups (normalisation,
trust weights, group judges) is refused when the manager is built: the reward loop hands a
manager one response at a time.

The other way in, an async reward function under veRL's own ``naive`` reward-loop manager, is
``assay.integrations.verl.compute_score_async`` (``custom_reward_function.name:
compute_score_async``): the manager awaits it. Needs veRL (and torch); ``assay.integrations.verl``
itself does not.
"""

from __future__ import annotations

import inspect
from typing import Any

from verl.experimental.reward_loop.reward_manager import registry as _registry
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from assay.integrations.common import cached_reward, component_paths, flat_result, resolve_config, resolve_failure_score
from assay.integrations.verl import PROMPT_KEYS, _refuse_group_steps, make_sample

REGISTERED_NAME = "assay"


def reward_kwargs_of(config: Any) -> dict[str, Any]:
    """The ``reward_kwargs`` of a veRL trainer config: ``reward.custom_reward_function`` (0.9.1)
    or the top-level ``custom_reward_function`` (earlier reward-loop releases); {} if neither."""
    for holder in (_get(_get(config, "reward"), "custom_reward_function"), _get(config, "custom_reward_function")):
        kwargs = _get(holder, "reward_kwargs")
        if kwargs:
            return dict(kwargs)
    return {}


def _get(node: Any, key: str) -> Any:
    if node is None:
        return None
    getter = getattr(node, "get", None)
    return getter(key) if callable(getter) else getattr(node, key, None)


class AssayRewardLoopManager(RewardManagerBase):
    """A veRL reward-loop reward manager that scores each response with an assay config."""

    def __init__(self, config: Any, tokenizer: Any, compute_score: Any = None, reward_router_address: str | None = None,
                 reward_model_tokenizer: Any = None, **kwargs: Any) -> None:
        # veRL 0.9.1's base takes compute_score; the reward loop before it did not
        if "compute_score" in inspect.signature(RewardManagerBase.__init__).parameters:
            super().__init__(config, tokenizer, compute_score)
        else:
            super().__init__(config, tokenizer)
        options = reward_kwargs_of(config)
        self.reward = cached_reward(resolve_config(options.get("config")))
        _refuse_group_steps(self.reward, "the assay reward-loop manager")
        self.failure_score = resolve_failure_score(options.get("failure_score"))
        self.paths = component_paths(self.reward)  # the same series as compute_score: components, /failed, rationale/

    def _decode(self, ids: Any) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    async def run_single(self, data: Any) -> dict[str, Any]:
        item = data[-1:][0]  # several sequences of one rollout: the last one is scored, as veRL's naive manager does
        prompt_ids, response_ids = item.batch["prompts"], item.batch["responses"]
        mask = item.batch["attention_mask"]
        prompt_length = prompt_ids.shape[-1]
        response_ids = response_ids[: int(mask[prompt_length:].sum())]
        extra_info = dict(item.non_tensor_batch.get("extra_info") or {})
        tools = item.non_tensor_batch.get("tool_extra_fields")
        if tools is not None:
            extra_info.update(dict(tools))
        response = await self.loop.run_in_executor(None, self._decode, response_ids)
        if not any(isinstance(extra_info.get(k), (str, list)) for k in PROMPT_KEYS):
            valid_prompt = prompt_ids[prompt_length - int(mask[:prompt_length].sum()):]
            extra_info["prompt"] = await self.loop.run_in_executor(None, self._decode, valid_prompt)
        reward_model = item.non_tensor_batch.get("reward_model") or {}
        ground_truth = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
        sample = make_sample(item.non_tensor_batch.get("data_source"), response, ground_truth, extra_info)
        (judgment,) = await self.reward.ascore([sample])
        row = flat_result(judgment, self.paths, self.failure_score, rationales=True)
        return {"reward_score": row["score"], "reward_extra_info": row}


# the registry's name: REWARD_MANAGER in 0.9.1, REWARD_LOOP_MANAGER_REGISTRY before it
_REGISTRY: dict[str, Any] = getattr(_registry, "REWARD_MANAGER", None)
if _REGISTRY is None:
    _REGISTRY = _registry.REWARD_LOOP_MANAGER_REGISTRY
if REGISTERED_NAME not in _REGISTRY:  # loaded twice (by path and by name): the first stays registered
    _REGISTRY[REGISTERED_NAME] = AssayRewardLoopManager

__all__ = ["AssayRewardLoopManager", "reward_kwargs_of", "REGISTERED_NAME"]
