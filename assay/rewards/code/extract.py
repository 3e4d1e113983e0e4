"""Find the program in a response: the last fenced block of its answer part, by default.

The answer part is what follows the last ``</think>`` (reasoning is not the program). Modes:

- ``fenced`` (default): the last ```` ``` ```` block; with ``block_language``, the last block
  fenced with that language (``python``, ``cpp``, ...);
- ``tag``: the text of the last ``<tag>...</tag>`` (``tag`` option, e.g. ``code``);
- ``whole``: the whole answer part.

    >>> extract_program("Here:\\n```python\\nprint(1)\\n```\\nand\\n```python\\nprint(2)\\n```").code
    'print(2)\\n'
    >>> extract_program("```cpp\\nint main(){}\\n```").language
    'cpp'
    >>> extract_program("no code here").code is None
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.text import after_reasoning

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE)
_UNCLOSED = re.compile(r"^[ \t]*(`{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*)\Z", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Program:
    code: str | None
    language: str | None  # the fence's language tag, if any
    where: str  # how it was found, for a rationale


def answer_part(text: str) -> str:
    """The text after the last ``</think>``, or all of it when there is none."""
    answer = after_reasoning(text)
    return text if answer is None else answer


def extract_program(text: str, mode: str = "fenced", block_language: str | None = None, tag: str = "code") -> Program:
    text = answer_part(text)
    if mode == "whole":
        return Program(text if text.strip() else None, None, "the whole answer")
    if mode == "tag":
        matches = re.findall(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", text, re.DOTALL | re.IGNORECASE)
        code = matches[-1] if matches else None
        return Program(code if code and code.strip() else None, None, f"the last <{tag}> block")
    blocks = [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(text)]
    if not blocks:  # a response cut off inside its block: the block runs to the end
        unclosed = _UNCLOSED.search(text)
        if unclosed:
            blocks = [(unclosed.group(2).lower(), unclosed.group(3))]
    wanted = block_language.lower() if block_language else None
    if wanted:
        blocks = [b for b in blocks if b[0] == wanted]
    where = f"the last ```{wanted} block" if wanted else "the last fenced block"
    if not blocks or not blocks[-1][1].strip():
        return Program(None, None, where)
    language, code = blocks[-1]
    return Program(code, language or None, where)
