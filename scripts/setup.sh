#!/usr/bin/env bash
# Set up a virtual environment in the checkout (.venv) with assay installed.
#   bash scripts/setup.sh          # core only: rule rewards, composition, `assay score`
#   bash scripts/setup.sh all      # every extra: models, serve, train, llama, plots, dev
# PyTorch is installed first as the CPU build (torch==2.13.0), so nothing pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
PIP=".venv/bin/python -m pip"
if [ "${1:-core}" = "all" ]; then
  $PIP install -q torch==2.13.0 2>&1 | grep -v "is ignored" || true
  $PIP install -q -e ".[models,serve,train,llama,plots,dev]" 2>&1 | grep -v "is ignored" || true
else
  $PIP install -q -e . 2>&1 | grep -v "is ignored" || true
fi
.venv/bin/python -c "import assay" || { echo "setup failed: assay does not import" >&2; exit 1; }
