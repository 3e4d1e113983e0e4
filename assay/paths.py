"""Where assay finds benchmark data and keeps its caches, overridable by environment variables.

- ``ASSAY_DATA_DIR``: the benchmark data folder (default: ``../shared/data`` beside the
  current directory's checkout, if present).
- ``ASSAY_CACHE_DIR``: converted models and request caches (default: ``~/.cache/assay``).
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The benchmark data folder, or None when none is found."""
    for candidate in (explicit, os.environ.get("ASSAY_DATA_DIR"), Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[2] / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def cache_dir() -> Path:
    """The cache folder, created on first use."""
    path = Path(os.environ.get("ASSAY_CACHE_DIR", Path.home() / ".cache" / "assay"))
    path.mkdir(parents=True, exist_ok=True)
    return path
