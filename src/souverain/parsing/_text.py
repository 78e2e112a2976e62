"""Text normalisation and the page builder every parser uses.

Invariants:
- ``normalise`` is applied to every block before it enters page text: NFC, ``\\n`` line ends, runs of
  horizontal whitespace collapsed to one space, lines stripped, at most one blank line in a row,
  control characters dropped.
- ``PageBuilder`` joins blocks with ``"\\n\\n"`` (a paragraph break; list items with ``"\\n"``) and
  records a ``Section`` per run of blocks with the same heading path and kind, so sections cover all
  of the page's text and ``page.text[s.char_start:s.char_end]`` is exactly the text of those blocks.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from souverain.documents import Page, Section

_HSPACE = re.compile(r"[ \t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff\ufffe]")
_BLANKS = re.compile(r"\n{3,}")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _HSPACE.sub(" ", _CONTROL.sub("", text.replace("\t", " ")))
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip()


def normalise_inline(text: str) -> str:
    """Normalise and fold line breaks: for table cells, headings and labels."""
    return " ".join(normalise(text).split())


class PageBuilder:
    """Accumulates normalised blocks for one page and tracks their sections."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self.sections: list[Section] = []

    def add(self, text: str, heading_path: tuple[str, ...] = (), kind: Literal["text", "table"] = "text",
            separator: str = "\n\n") -> None:
        """Append a block; ``separator="\n"`` continues the previous block (list items)."""
        text = normalise(text)
        if not text:
            return
        if self._parts:
            self._parts.append(separator)
            self._length += len(separator)
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        last = self.sections[-1] if self.sections else None
        if last is not None and last.heading_path == heading_path and last.kind == kind:
            last.char_end = self._length
        else:
            self.sections.append(Section(heading_path, start, self._length, kind))

    @property
    def empty(self) -> bool:
        return not self._parts

    def build(self, number: int, label: str = "") -> Page:
        return Page(number=number, text="".join(self._parts), sections=self.sections, label=label)


class HeadingStack:
    """Turns a stream of (level, text) headings into heading paths."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def push(self, level: int, text: str) -> tuple[str, ...]:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, normalise_inline(text)))
        return self.path

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(t for _, t in self._stack)


def table_rows_text(rows: list[list[str]]) -> str:
    """Render table rows as ``cell | cell | cell`` lines, skipping empty rows."""
    lines = []
    for row in rows:
        cells = [normalise_inline(c) for c in row]
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def records_text(rows: list[list[str]]) -> str:
    """Render rows under a header row as self-describing ``Header: value | ...`` lines.

    The header row is kept as the first line; empty cells are left out of the records.
    """
    rows = [[normalise_inline(c) for c in row] for row in rows]
    rows = [r for r in rows if any(r)]
    if not rows:
        return ""
    header = rows[0]
    width = max(len(r) for r in rows)
    names = [header[i] if i < len(header) and header[i] else f"column {i + 1}" for i in range(width)]
    lines = [" | ".join(c for c in header if c)]
    for row in rows[1:]:
        lines.append(" | ".join(f"{names[i]}: {v}" for i, v in enumerate(row) if v))
    return "\n".join(lines)
