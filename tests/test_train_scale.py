"""The trainers run under ``accelerate launch`` unchanged: ``assay train rm`` as a module,
one CPU process, on a tiny Llama built by ``test_train``'s fixture; the folder it writes
loads as ``type: classifier``. (Several GPUs or nodes are the same command with
``--num_processes N`` / a DeepSpeed or FSDP ``--config_file``: see docs/train.md.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("accelerate")
pytest.importorskip("trl")

from test_train import tiny_llama, write_pairs  # noqa: E402,F401  (the tiny model fixture)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_train_rm_under_accelerate_launch_on_cpu(tiny_llama, tmp_path) -> None:  # noqa: F811
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if launcher is None:
        pytest.skip("the accelerate launcher is not on PATH")
    data = write_pairs(tmp_path / "pairs.jsonl", 40)
    out = tmp_path / "rm"
    command = [launcher, "launch", "--cpu", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "-m", "assay", "train", "rm", str(data), "--model", str(tiny_llama), "--output", str(out), "--max-length", "64", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "load with:" in done.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["pairs"] == {"train": 36, "eval": 4} and report["eval_accuracy"] is not None
    from assay.compose.load import load_reward
    from assay.types import Sample

    judged = load_reward({"rewards": {"rm": report["load_with"]}}).score([Sample(prompt="Tell me about tea.", response="Sure, happy to help.")])
    assert judged[0].ok
