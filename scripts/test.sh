#!/usr/bin/env bash
# Set up every extra in .venv and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
.venv/bin/python -m pytest -q "$@"
