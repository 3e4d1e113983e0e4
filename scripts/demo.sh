#!/usr/bin/env bash
# The main job on embedded defaults: score the 5,276 GSM8K example model solutions with the
# GRPO-style math config (correctness, answer format, overlong penalty) and print the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh core
.venv/bin/python examples/gsm8k_to_jsonl.py --output runs/gsm8k_rollouts.jsonl
.venv/bin/assay score runs/gsm8k_rollouts.jsonl --config examples/gsm8k_grpo.yaml --output runs/gsm8k_scored.jsonl
.venv/bin/python examples/agreement.py runs/gsm8k_scored.jsonl --reward correct --label is_correct
