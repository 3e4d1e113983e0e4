#!/usr/bin/env bash
# Set up every extra in .venv, check the code with ruff (pyproject.toml's [tool.ruff]), and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
