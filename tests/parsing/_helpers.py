"""Helpers shared by the parsing tests."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from souverain.documents import ParsedDocument, RawDocument
from souverain.parsing import ParseLimits, parse_document

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def parse_bytes(name: str, data: bytes, limits: ParseLimits | None = None, mime_type: str = "") -> ParsedDocument:
    return parse_document(RawDocument(uri=f"mem://tests/{name}", data=data, mime_type=mime_type), limits)


def check_invariants(doc: ParsedDocument) -> None:
    """What every consumer relies on: 1-based pages, valid spans, normalised text, sections covering text."""
    assert [p.number for p in doc.pages] == list(range(1, len(doc.pages) + 1))
    for page in doc.pages:
        text = page.text
        assert text == unicodedata.normalize("NFC", text)
        assert "  " not in text and "\n\n\n" not in text and "\r" not in text and "\t" not in text
        assert text == text.strip()
        covered = [False] * len(text)
        previous_end = 0
        for section in page.sections:
            assert 0 <= section.char_start < section.char_end <= len(text)
            assert section.char_start >= previous_end, "sections are ordered and do not overlap"
            previous_end = section.char_end
            chunk = text[section.char_start : section.char_end]
            assert chunk == chunk.strip(), f"section boundaries should sit on text, got {chunk!r}"
            for i in range(section.char_start, section.char_end):
                covered[i] = True
        uncovered = "".join(ch for ch, ok in zip(text, covered, strict=True) if not ok)
        assert uncovered.strip() == "", f"text outside any section on page {page.number}: {uncovered!r}"
