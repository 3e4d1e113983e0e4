"""Shared fixtures: where the real benchmark data is (and the Chinook database in it), skipping
cleanly when it is absent."""

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


@pytest.fixture(scope="session")
def chinook(data_dir: Path) -> str:
    """The real Chinook SQLite database (the SQL rewards' tests)."""
    path = data_dir / "sql" / "chinook.sqlite"
    if not path.is_file():
        pytest.skip("sql/chinook.sqlite is not in the data folder")
    return str(path)
