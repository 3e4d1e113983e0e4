"""The saved reward file: the generated code under a comment header saying where it came from
(task, model, rounds, agreement, date, the examples' file and hash), plus one machine-readable
line, ``# assay-provenance: {...}``, that ``read_provenance`` reads back.

    # Reward function written by `assay reward-gen`; run it in the sandbox:
    #   {type: function, path: "reward.py:reward", sandbox: true}
    # task: reward answers that end with a question
    # model: gemma-3-270m; rounds: 3 of 3 run; kept: round 2 (model)
    # agreement: accuracy 0.875 at threshold 0.5 on 8 examples (0 without a score)
    # date: 2026-12-01T22:30:00Z
    # assay-provenance: {"task": ..., "model": ..., ...}

A comment header (not a docstring) so no text of the task can break out of it: every line of
it starts with ``#``. What it is not: a signature; anyone can edit the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MARK = "# assay-provenance: "


def header(provenance: dict[str, Any], file_name: str) -> str:
    """The comment block that opens the saved file."""
    def line(text: str) -> str:
        return "# " + " ".join(str(text).split())

    agreement = provenance.get("agreement_text") or "not measured"
    lines = [
        "# Reward function written by `assay reward-gen`; run it in the sandbox:",
        f'#   {{type: function, path: "{file_name}:reward", sandbox: true}}',
        line(f"task: {provenance.get('task', '')}"),
        line(f"model: {provenance.get('model', '')}; rounds: {provenance.get('rounds_run')} of {provenance.get('rounds')} run; "
             f"kept: round {provenance.get('best_round')} ({provenance.get('origin')})"),
        line(f"agreement: {agreement}"),
        line(f"examples: {provenance.get('examples')} (sha256 {str(provenance.get('examples_sha256', ''))[:16]})"),
        line(f"date: {provenance.get('date')}"),
        MARK + json.dumps(provenance, ensure_ascii=True, sort_keys=True),
    ]
    return "\n".join(lines) + "\n"


def save(path: Path, source: str, provenance: dict[str, Any]) -> None:
    """Write the header and the code to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header(provenance, path.name) + "\n" + source.strip("\n") + "\n", encoding="utf-8")


def read_provenance(path: str | Path) -> dict[str, Any] | None:
    """The provenance a saved file carries, or None when it has none."""
    for text in Path(path).read_text(encoding="utf-8").splitlines()[:40]:
        if text.startswith(MARK):
            try:
                return json.loads(text[len(MARK):])
            except ValueError:
                return None
    return None
