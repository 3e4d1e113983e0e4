"""The ``assay_steps`` veRL reward manager: step rewards on the tokens that end the steps.

veRL's own managers put one number per response on its last token. This one is veRL's
``batch`` reward manager (its decoding and its call of the reward function, unchanged) with
the placement replaced: each response's ``step_scores`` (from a config with a process reward)
go to the tokens that end the steps, the total to the last token, as ``token_rewards`` in the
reward kwargs selects (``outcome``, ``steps``, ``steps_and_outcome``; see
:func:`assay.integrations.verl.token_rewards`). The step lists are kept out of
``reward_extra_info`` (veRL logs scalars there); ``steps_placed`` and ``steps_unplaced`` are
added to it per response. The batch's ``meta_info["global_steps"]``, when veRL gives one, is
passed to the reward function as ``step`` (weight schedules, a remote server's schedules).

Importing this module registers the manager in veRL's reward-manager registry::

    reward_model:
      reward_manager: assay_steps       # with `import assay.integrations.verl_steps` in your entry point
    reward:
      custom_reward_function:
        path: .../assay/integrations/verl.py
        name: compute_score_batch
        reward_kwargs: {config: /abs/path/prm.yaml, token_rewards: steps_and_outcome}

or, in Python, ``AssayStepRewardManager(tokenizer, num_examine=0, compute_score=fn, config=..., token_rewards="steps")``.
Needs veRL (and torch); ``assay.integrations.verl`` itself does not.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from typing import Any

import torch
from verl import DataProto
from verl.workers.reward_manager import register
from verl.workers.reward_manager.batch import BatchRewardManager

from assay.integrations.verl import TOKEN_REWARDS, compute_score_batch, token_rewards


def _takes_step(function: Any) -> bool:
    """Whether a reward function accepts ``step`` (assay's do; another may not)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "step" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


@register("assay_steps")
class AssayStepRewardManager(BatchRewardManager):
    """veRL's batch reward manager, placing step rewards at step-ending tokens."""

    def __init__(self, tokenizer: Any, num_examine: int = 0, compute_score: Any = None, reward_fn_key: str = "data_source",
                 token_rewards: str = "steps_and_outcome", **reward_kwargs: Any) -> None:
        if token_rewards not in TOKEN_REWARDS:
            raise ValueError(f"assay_steps: token_rewards must be one of {', '.join(TOKEN_REWARDS)}, not {token_rewards!r}")
        super().__init__(tokenizer, num_examine, compute_score or compute_score_batch, reward_fn_key, step_rewards=True, **reward_kwargs)
        self.token_rewards = token_rewards

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def __call__(self, data: DataProto, return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        from_rm = self._extract_reward_from_rm_scores(data, return_dict)
        if from_rm is not None:
            return from_rm
        reward_tensor = torch.zeros_like(data.batch["responses"], dtype=torch.float32)
        extra: dict[str, list[Any]] = defaultdict(list)
        prompt_len = data.batch["prompts"].shape[-1]
        lengths = data.batch["attention_mask"][:, prompt_len:].sum(dim=-1)
        step = data.meta_info.get("global_steps")
        if step is not None and _takes_step(self.compute_score):
            self.reward_kwargs["step"] = int(step)  # the trainer's step, for weight schedules (here and on a remote server)
        scores = self.verify(data)  # veRL's own decode and call of the reward function
        totals = []
        for i, result in enumerate(scores):
            result = dict(result)
            step_scores = result.pop("step_scores", None)
            length = int(lengths[i].item())
            ids = data.batch["responses"][i][:length].tolist()
            text = self._decode(ids)
            values, placed = token_rewards(self._decode, ids, text, result["score"], step_scores, self.token_rewards)
            if length:
                reward_tensor[i, :length] = torch.tensor(values, dtype=torch.float32)
            for key, value in {**result, **placed}.items():
                extra[key].append(value)
            totals.append(result["score"])
        data.batch["acc"] = torch.tensor(totals, dtype=torch.float32, device=data.batch["prompts"].device)
        if return_dict:
            return {"reward_tensor": reward_tensor, "reward_extra_info": extra}
        return reward_tensor
