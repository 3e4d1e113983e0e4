"""The ``search`` judge tool: BM25 over a local document collection the user points to (bm25s).

``documents`` is a folder (every ``.txt`` and ``.md`` file below it, each one document, its
id the path relative to the folder) or a JSONL file (one object a line; the text in
``text_field``, default ``text``, the id in ``id_field``, default ``id``, else the line
number; a ``title`` field, when there is one, is searched and shown too). The index is built
once, when the judge is built, with bm25s (English stop words dropped); a query answers the
``top_k`` best documents with their id, score and text, each cut at ``max_chars_per_document``.
A query that matches nothing says so. Bad input names the file and line.

    tools: [{search: {documents: docs/policies, top_k: 3}}]

Not here: embedding search or a web search; the documents never leave the machine.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from pydantic import Field

from assay.rewards.judges.tools.base import Tool, ToolError, ToolOptions

SUFFIXES = (".txt", ".md")


class SearchOptions(ToolOptions):
    documents: str  # a folder of .txt/.md files or a JSONL file
    text_field: str = "text"
    id_field: str = "id"
    top_k: int = Field(3, ge=1, le=50)
    max_chars_per_document: int = Field(1500, ge=50, le=100_000)
    max_documents: int = Field(200_000, ge=1)
    max_query_chars: int = Field(1000, ge=1)


def read_documents(path: Path, text_field: str = "text", id_field: str = "id", max_documents: int = 200_000) -> list[tuple[str, str]]:
    """``(id, text)`` of every document of a folder or a JSONL file; ValueError naming the
    file and line for what cannot be read."""
    documents: list[tuple[str, str]] = []
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
            try:
                documents.append((file.relative_to(path).as_posix(), file.read_text(encoding="utf-8", errors="replace")))
            except OSError as error:
                raise ValueError(f"{file}: cannot be read ({error})") from None
            if len(documents) > max_documents:
                raise ValueError(f"{path}: more than max_documents={max_documents} documents")
        if not documents:
            raise ValueError(f"{path}: no .txt or .md files in this folder")
        return documents
    if not path.is_file():
        raise ValueError(f"documents: no such file or folder: {path}")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise ValueError(f"{path}, line {number}: not JSON ({error})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}, line {number}: a document is a JSON object, got {type(row).__name__}")
            text = row.get(text_field)
            if not isinstance(text, str):
                raise ValueError(f"{path}, line {number}: field {text_field!r} is missing or not text (fields: {', '.join(map(str, row))})")
            title = row.get("title")
            if isinstance(title, str) and title.strip():
                text = f"{title.strip()}\n{text}"
            documents.append((str(row.get(id_field, f"line {number}")), text))
            if len(documents) > max_documents:
                raise ValueError(f"{path}: more than max_documents={max_documents} documents")
    if not documents:
        raise ValueError(f"{path}: no documents in this file")
    return documents


class SearchTool(Tool):
    name = "search"
    description = "Search a collection of reference documents (BM25 keyword search) and read the best matching passages."
    input_name = "query"
    input_description = "keywords to search for"
    Options = SearchOptions

    def __init__(self, base_dir: Path | None = None, **options: Any) -> None:
        import bm25s

        super().__init__(base_dir, **options)
        o = self.options
        self.source = self.path(o.documents)
        self.documents = read_documents(self.source, o.text_field, o.id_field, o.max_documents)
        self._bm25s = bm25s
        self.index = bm25s.BM25()
        self.index.index(bm25s.tokenize([text for _, text in self.documents], stopwords="en", show_progress=False), show_progress=False)
        self._lock = threading.Lock()  # bm25s retrieval is not documented as thread-safe

    def call(self, text: str, timeout_seconds: float) -> str:
        o = self.options
        query = text.strip()
        if not query:
            raise ToolError("the search query is empty")
        if len(query) > o.max_query_chars:
            raise ToolError(f"the search query has {len(query)} characters, more than the limit of {o.max_query_chars}")
        tokens = self._bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return f"no document matches {query!r} (no searchable words in the query)"
        k = min(o.top_k, len(self.documents))
        with self._lock:
            found, scores = self.index.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        hits = [(int(i), float(s)) for i, s in zip(found[0], scores[0], strict=True) if float(s) > 0]
        if not hits:
            return f"no document matches {query!r}"
        parts = []
        for rank, (index, score) in enumerate(hits, 1):
            doc_id, body = self.documents[index]
            body = body.strip()
            if len(body) > o.max_chars_per_document:
                body = body[: o.max_chars_per_document] + f" [... {len(body) - o.max_chars_per_document} more characters]"
            parts.append(f"[{rank}] {doc_id} (score {score:.2f})\n{body}")
        return "\n\n".join(parts)
