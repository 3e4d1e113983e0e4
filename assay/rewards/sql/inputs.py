"""Where a sample keeps what the SQL rewards read: the predicted query, the gold query, the database.

**The predicted query** is taken from the response (after the last ``</think>``, if any) by
``extract``:

- ``fenced`` (default): the last fenced block labelled ``sql`` or ``sqlite``, else the last
  fenced block with no language label;
- ``tag``: the text inside the last ``<tag>...</tag>`` (``tag: answer`` by default), with a
  fence inside it unwrapped;
- ``whole``: the whole response, with a fence around it unwrapped.

**The gold query** is the sample's ``gold_field`` (``reference`` by default), unwrapped from a
fence if it has one.

**The database**, first found of: the sample's ``db_field`` (``db_path`` by default; a relative
path is read under ``db_root`` when set); the sample's ``db_id_field`` (``db_id``) under
``db_root`` in Spider's and BIRD's layout (``db_root/<db_id>/<db_id>.sqlite``); the
``database`` option (one database for every sample).

    >>> extract_query("Let me think.\\n```sql\\nSELECT 1\\n```\\nBetter:\\n```sql\\nSELECT 2;\\n```", "fenced").query
    'SELECT 2;'
    >>> extract_query("<answer>SELECT Name FROM Genre</answer>", "tag").query
    'SELECT Name FROM Genre'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from assay.reward import Options as BaseOptions
from assay.text import after_reasoning
from assay.types import Judgment, Sample

ExtractMode = Literal["fenced", "tag", "whole"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


class SqlInputOptions(BaseOptions):
    """The options every SQL reward shares: how to find the query, the gold query and the database."""

    extract: ExtractMode = Field("fenced", description="where the predicted query is in the response: fenced, tag or whole")
    tag: str = Field("answer", pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$", description="the tag for extract: tag")
    gold_field: str = Field("reference", description="the sample field holding the gold query")
    db_field: str = Field("db_path", description="the sample field holding the database file's path")
    db_id_field: str = Field("db_id", description="the sample field holding a Spider/BIRD database id (with db_root)")
    db_root: str | None = Field(None, description="folder of the databases: <db_root>/<db_id>/<db_id>.sqlite, and the base of relative db paths")
    database: str | None = Field(None, description="one database file for every sample (used when the sample names none)")


@dataclass(frozen=True)
class Extracted:
    query: str | None
    how: str  # words for the rationale


def _unfence(text: str) -> str:
    blocks = _FENCE.findall(text)
    return blocks[-1][1].strip() if blocks else text.strip()


def extract_query(text: str, mode: ExtractMode = "fenced", tag: str = "answer") -> Extracted:
    """The predicted query in a response by ``mode`` (see the module docstring)."""
    answer = after_reasoning(text)
    text = text if answer is None else answer
    if mode == "whole":
        query = _unfence(text)
        return Extracted(query or None, "the whole response")
    if mode == "tag":
        found = re.findall(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", text, re.DOTALL | re.IGNORECASE)
        if not found:
            return Extracted(None, f"no <{tag}>...</{tag}> in the response")
        query = _unfence(found[-1])
        return Extracted(query or None, f"the last <{tag}> tag")
    blocks = _FENCE.findall(text)
    labelled = [body for label, body in blocks if label.lower() in ("sql", "sqlite")]
    if labelled:
        return Extracted(labelled[-1].strip() or None, "the last ```sql block")
    plain = [body for label, body in blocks if not label]
    if plain:
        return Extracted(plain[-1].strip() or None, "the last unlabelled ``` block (no ```sql block)")
    return Extracted(None, "no ```sql fenced block in the response")


def gold_query(sample: Sample, options: SqlInputOptions) -> tuple[str | None, Judgment | None]:
    """The gold query, or an ``input`` failure saying why there is none."""
    raw = sample.get(options.gold_field)
    if not isinstance(raw, str) or not raw.strip():
        what = "missing" if raw is None else "empty" if isinstance(raw, str) else f"a {type(raw).__name__}"
        return None, Judgment.fail("input", f"the gold query ({options.gold_field!r}) is {what}; expected the SQL text")
    return _unfence(raw), None


def database_path(sample: Sample, options: SqlInputOptions) -> tuple[str | None, Judgment | None]:
    """The database file, or an ``input`` failure naming what was looked for."""
    path, failure = named_database(sample, options)
    if path is None and failure is None:
        root = " or " + repr(options.db_id_field) if options.db_root else ""
        return None, Judgment.fail("input", f"no database: the sample has no {options.db_field!r}{root} and the reward has no 'database' option")
    return path, failure


def named_database(sample: Sample, options: SqlInputOptions) -> tuple[str | None, Judgment | None]:
    """The database file when the sample or the options name one: (path, None); (None, None)
    when none is named; (None, an ``input`` failure) when the named file is not there."""
    root = Path(options.db_root) if options.db_root else None
    named = sample.get(options.db_field)
    if isinstance(named, str) and named.strip():
        path = Path(named)
        if not path.is_absolute() and root is not None:
            path = root / path
        where = f"the sample's {options.db_field!r}"
    elif root is not None and isinstance(sample.get(options.db_id_field), str) and sample.get(options.db_id_field).strip():
        db_id = sample.get(options.db_id_field).strip()
        if "/" in db_id or db_id in {".", ".."}:
            return None, Judgment.fail("input", f"the database id {db_id!r} ({options.db_id_field!r}) is not a plain name")
        path = root / db_id / f"{db_id}.sqlite"
        where = f"the sample's {options.db_id_field!r} under db_root"
    elif options.database:
        path = Path(options.database)
        where = "the reward's 'database' option"
    else:
        return None, None
    if not path.is_file():
        return None, Judgment.fail("input", f"the database {str(path)!r} (from {where}) does not exist or is not a file")
    return os.path.abspath(path), None
