"""How the checkers cut a response into words, sentences and paragraphs.

- **words**: runs of word characters (``\\w+``), as IFEval counts them (nltk's
  ``RegexpTokenizer(r"\\w+")``), so "don't" is two words.
- **sentences**: pysbd's rule-based segmenter (English, offline; IFEval uses nltk's punkt,
  whose data is a download), empty segments dropped. pysbd ends a sentence at a line break,
  and its time grows with the square of a text's sentence count, so the text is given to it
  line by line, and a line longer than ``_PIECE`` characters is first cut where a sentence
  plainly ends (``.``, ``!`` or ``?``, a space, then a capital letter): the count is the
  same, and the time stays linear in the length of the response.
- **capital words**: whitespace-separated tokens with their surrounding punctuation removed;
  a token counts as capital when ``str.isupper()`` (at least one cased letter, none lower).
  A hyphenated word is one word, as IFEval says of its tokenizer.

What this is not: a tokenizer for a model's tokens (see ``rules/length.py``).
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"\w+")  # one character class, one quantifier: linear
_EDGE_PUNCTUATION = string.punctuation + "“”‘’«»…"


def words(text: str) -> list[str]:
    return _WORD.findall(text)


@lru_cache(maxsize=1)
def _segmenter() -> Any:
    try:
        import pysbd
    except ImportError as error:
        raise ImportError("counting sentences needs pysbd: pip install 'assay[ifeval]'") from error
    return pysbd.Segmenter(language="en", clean=False)


_PIECE = 1000


def _pieces(line: str) -> list[str]:
    """``line`` cut, once a piece is ``_PIECE`` characters long, at the next plain sentence end;
    a piece that reaches four times that with no sentence end is cut at the next space (pysbd's
    time grows with the square of a piece's length, so no piece may grow without bound)."""
    if len(line) <= _PIECE:
        return [line]
    pieces, start = [], 0
    for i in range(len(line) - 2):
        long = i - start >= _PIECE
        if long and line[i] in ".!?" and line[i + 1] == " " and line[i + 2].isupper():
            pieces.append(line[start:i + 1])
            start = i + 2
        elif i - start >= 4 * _PIECE and (line[i] == " " or i - start >= 8 * _PIECE):
            pieces.append(line[start:i])
            start = i + 1 if line[i] == " " else i
    pieces.append(line[start:])
    return pieces


def sentences(text: str) -> list[str]:
    segment = _segmenter().segment
    out = []
    for line in text.split("\n"):
        if line.strip():
            for piece in _pieces(line):
                out.extend(s for s in (seg.strip() for seg in segment(piece)) if s)
    return out


def capital_words(text: str) -> list[str]:
    tokens = (token.strip(_EDGE_PUNCTUATION) for token in text.split())
    return [t for t in tokens if t and t.isupper()]
