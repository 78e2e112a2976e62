"""Cut a ParsedDocument into chunks that keep their provenance.

Rules:
- A chunk never crosses a page or a section boundary, so every chunk has one page and one heading
  path, and ``page.text[char_start:char_end] == chunk.text`` always holds (citations quote it back).
- Sentences are packed up to ``target_tokens``; consecutive chunks of a section share up to
  ``overlap_tokens`` of trailing sentences so an answer that straddles a cut is still found whole.
- A sentence longer than the hard limit (the embedder's window) is cut at word boundaries
  (or at characters for scripts without spaces).
- Tables are packed by rows (one row per line), never cut inside a row unless a row alone is too long.
"""

from __future__ import annotations

import re

from ..documents import Chunk, Page, ParsedDocument, Section
from ..text.analysis import detect_language, estimate_tokens, split_sentences

_LINE = re.compile(r"[^\n]+")


def chunk_document(
    doc: ParsedDocument, target_tokens: int = 180, overlap_tokens: int = 30, max_tokens: int = 400
) -> list[Chunk]:
    chunks: list[Chunk] = []
    doc_lang = detect_language(" ".join(p.text[:1000] for p in doc.pages[:5]))
    for page in doc.pages:
        for section in _sections(page):
            units = _units(page.text, section, max_tokens)
            # one detection per section (a page for PDFs): language changes at section level, and
            # per-chunk detection was 75% of the chunker's time
            body = page.text[section.char_start : section.char_end]
            lang = (detect_language(body) if len(body.strip()) > 40 else "") or doc_lang
            for start, end in _pack(page.text, units, target_tokens, overlap_tokens):
                text = page.text[start:end]
                if not text.strip():
                    continue
                chunks.append(
                    Chunk(
                        doc_uri=doc.uri,
                        ordinal=len(chunks),
                        text=text,
                        page=page.number,
                        char_start=start,
                        char_end=end,
                        heading_path=section.heading_path,
                        language=lang,
                        kind=section.kind,
                    )
                )
    return chunks


def _sections(page: Page) -> list[Section]:
    """The page's sections in order; text not covered by any section becomes its own section."""
    covered = sorted(
        (s for s in page.sections if 0 <= s.char_start < s.char_end <= len(page.text)), key=lambda s: s.char_start
    )
    out: list[Section] = []
    pos = 0
    for s in covered:
        if s.char_start < pos:  # overlapping sections: keep the remainder only
            if s.char_end <= pos:
                continue
            s = Section(s.heading_path, pos, s.char_end, s.kind)
        if s.char_start > pos and page.text[pos : s.char_start].strip():
            out.append(Section((), pos, s.char_start))
        out.append(s)
        pos = s.char_end
    if pos < len(page.text) and page.text[pos:].strip():
        out.append(Section(out[-1].heading_path if out else (), pos, len(page.text)))
    return out


def _units(text: str, section: Section, max_tokens: int) -> list[tuple[int, int]]:
    """Sentence (or table row) spans inside the section, each within the hard token limit."""
    body = text[section.char_start : section.char_end]
    if section.kind == "table":
        spans = [(m.start(), m.end()) for m in _LINE.finditer(body) if m.group().strip()]
    else:
        spans = split_sentences(body)
    units: list[tuple[int, int]] = []
    for a, b in spans:
        a, b = a + section.char_start, b + section.char_start
        units.extend(_split_long(text, a, b, max_tokens))
    return units


def _split_long(text: str, start: int, end: int, max_tokens: int) -> list[tuple[int, int]]:
    if estimate_tokens(text[start:end]) <= max_tokens:
        return [(start, end)]
    words = [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", text[start:end])]
    if len(words) <= 1:  # no spaces (e.g. Japanese) or one giant token: cut by characters
        step = max(50, int(max_tokens * 0.9))
        return [(i, min(end, i + step)) for i in range(start, end, step)]
    out: list[tuple[int, int]] = []
    cur_start, cur_end, cur_tokens = words[0][0], words[0][0], 0
    for a, b in words:
        t = max(1, estimate_tokens(text[a:b]))
        if cur_tokens + t > max_tokens and cur_end > cur_start:
            out.append((cur_start, cur_end))
            cur_start, cur_tokens = a, 0
        cur_tokens += t
        cur_end = b
    out.append((cur_start, cur_end))
    pieces: list[tuple[int, int]] = []
    for a, b in out:
        if b - a < 2 or estimate_tokens(text[a:b]) <= max_tokens:
            pieces.append((a, b))
        elif (a, b) != (start, end):  # e.g. a single word over the limit (long CJK run): recurse on the smaller span
            pieces.extend(_split_long(text, a, b, max_tokens))
        else:
            # Nothing was cut: per-word estimates are floored (int(1.4) == 1 for a plain word), so their sum can
            # stay under the limit while the whole span is over it. Recursing on the same span never ends;
            # halve it at a word boundary instead (strictly smaller spans, so this terminates).
            mid = len(words) // 2
            pieces.extend(_split_long(text, start, words[mid - 1][1], max_tokens))
            pieces.extend(_split_long(text, words[mid][0], end, max_tokens))
    return pieces


def _pack(text: str, units: list[tuple[int, int]], target: int, overlap: int) -> list[tuple[int, int]]:
    """Group consecutive units into chunk spans of about ``target`` tokens with sentence overlap."""
    if not units:
        return []
    sizes = [max(1, estimate_tokens(text[a:b])) for a, b in units]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + sizes[j] <= target):
            total += sizes[j]
            j += 1
        spans.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        # step back over trailing units that fit in the overlap, but always advance
        k, back = j, 0
        while k - 1 > i and back + sizes[k - 1] <= overlap:
            back += sizes[k - 1]
            k -= 1
        i = k
    return spans
