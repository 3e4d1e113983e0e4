"""What the file-processing commands (``score``, ``compare``) share: checking the input and
loading the config up front, and reporting the summary and the malformed lines at the end."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class SetupError(Exception):
    """The input file is missing or the config cannot be loaded; already printed, exit status 2."""


def load_for_input(input_path: Path, load: Callable[[Any], T], config: Any) -> T:
    """``load(config)`` once ``input_path`` is known to exist; on failure print ``error: ...``
    to stderr and raise :class:`SetupError`."""
    from assay.spec import ConfigError

    if not input_path.is_file():
        print(f"error: {input_path}: input file not found", file=sys.stderr)
        raise SetupError
    try:
        return load(config)
    except (ConfigError, ImportError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SetupError from error


def report(args: argparse.Namespace, summary: Any, errors: Sequence[Exception], done: str, list_skipped: bool) -> int:
    """Print ``summary.table()`` and where the output went, write ``--summary-json``, then the
    malformed lines: with ``--on-bad-line stop`` the first one (exit status 2; ``done`` says
    what happened to every row before it), else how many were skipped (each one too with
    ``list_skipped``). Returns the exit status."""
    print(summary.table())
    print(f"\nwrote {args.output}")
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary.as_dict(), indent=2))
    if errors:
        if args.on_bad_line == "stop":
            print(f"error: {errors[0]}\nevery {done} to {args.output}", file=sys.stderr)
            return 2
        if list_skipped:
            for error in errors:
                print(f"skipped: {error}", file=sys.stderr)
        print(f"skipped {len(errors)} malformed line(s)", file=sys.stderr)
    return 0
