"""Shared fixtures: where the real benchmark data is, skipping cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_data_dir() -> Path | None:
    """``$ASSAY_DATA_DIR`` if set, else ``../shared/data`` beside the checkout."""
    candidate = Path(os.environ.get("ASSAY_DATA_DIR", REPO.parent / "shared" / "data"))
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    found = find_data_dir()
    if found is None:
        pytest.skip("benchmark data not found: set ASSAY_DATA_DIR or put shared/data beside the checkout")
    return found
