"""DOCX (python-docx) and PPTX (python-pptx).

Design facts:
- Both are ZIP containers: ``check_zip`` runs before any library inflates them (zip bombs, damage).
- DOCX is one page (Word has no stable page numbers in the file). Paragraphs and tables are read in
  body order; list paragraphs become ``- item`` lines; paragraphs styled "Title" (level 0) or
  "Heading N" (level N) build heading paths; tables become ``cell | cell | cell`` rows in a
  ``kind="table"`` section under the current heading.
- PPTX has one page per slide, labelled with the slide title; the page holds the title, every text
  frame and table in shape order (groups included) and the speaker notes ("Notes: ...").
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from souverain.documents import Page, ParsedDocument, RawDocument
from souverain.parsing._text import HeadingStack, PageBuilder, normalise_inline, table_rows_text
from souverain.parsing._zip import check_zip
from souverain.parsing.base import ParseLimits, choose_title

_HEADING = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _heading_level(paragraph: Any) -> int | None:
    style = paragraph.style
    if style is None:
        return None
    for name in (style.name or "", style.style_id or ""):
        if name.lower() == "title":
            return 0
        match = _HEADING.match(name)
        if match:
            return int(match.group(1))
    return None


def _is_list_item(paragraph: Any) -> bool:
    style_name = (paragraph.style.name or "") if paragraph.style is not None else ""
    if style_name.lower().startswith("list"):
        return True
    ppr = paragraph._p.pPr
    return ppr is not None and ppr.numPr is not None


def _docx_table_rows(table: Any) -> list[list[str]]:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:  # merged cells repeat the same <w:tc> once per grid column
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(cell.text)
        rows.append(cells)
    return rows


def _core_metadata(props: Any) -> dict[str, str]:
    fields = ("title", "author", "subject", "language", "keywords")
    return {f: str(getattr(props, f)).strip() for f in fields if getattr(props, f, None)}


class DocxParser:
    formats = ("docx",)

    def parse(self, raw: RawDocument, limits: ParseLimits) -> ParsedDocument:
        check_zip(raw, limits, "DOCX")
        import docx
        from docx.table import Table

        document = docx.Document(io.BytesIO(raw.data))
        builder, headings = PageBuilder(), HeadingStack()
        first_heading, last_was_item = "", False
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                builder.add(table_rows_text(_docx_table_rows(block)), headings.path, "table")
                last_was_item = False
                continue
            text = block.text
            level = _heading_level(block)
            if level is not None and text.strip():
                first_heading = first_heading or normalise_inline(text)
                builder.add(text, headings.push(level, text))
                last_was_item = False
            elif _is_list_item(block) and text.strip():
                builder.add(f"- {text}", headings.path, separator="\n" if last_was_item else "\n\n")
                last_was_item = True
            elif text.strip():
                builder.add(text, headings.path)
                last_was_item = False
        metadata = _core_metadata(document.core_properties)
        warnings = [] if not builder.empty else ["the document holds no text"]
        title = choose_title(raw, metadata.get("title"), first_heading)
        return ParsedDocument(raw.uri, title, [builder.build(1)], "docx", metadata, warnings)


def _iter_shapes(shapes: Any) -> Iterator[Any]:
    for shape in shapes:
        if getattr(shape, "shapes", None) is not None:  # group shape
            yield from _iter_shapes(shape.shapes)
        else:
            yield shape


class PptxParser:
    formats = ("pptx",)

    def parse(self, raw: RawDocument, limits: ParseLimits) -> ParsedDocument:
        check_zip(raw, limits, "PPTX")
        from pptx import Presentation

        presentation = Presentation(io.BytesIO(raw.data))
        pages: list[Page] = []
        warnings: list[str] = []
        for number, slide in enumerate(presentation.slides, start=1):
            title_shape = slide.shapes.title
            title = normalise_inline(title_shape.text_frame.text) if title_shape is not None else ""
            path = (title,) if title else ()
            builder = PageBuilder()
            builder.add(title, path)
            for shape in _iter_shapes(slide.shapes):
                if title_shape is not None and shape.shape_id == title_shape.shape_id:
                    continue
                if getattr(shape, "has_table", False) and shape.has_table:
                    rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
                    builder.add(table_rows_text(rows), path, "table")
                elif shape.has_text_frame:
                    builder.add(shape.text_frame.text, path)
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = slide.notes_slide.notes_text_frame.text
                if notes.strip():
                    builder.add(f"Notes: {notes}", (*path, "Notes"))
            if builder.empty:
                warnings.append(f"slide {number} has no text")
            pages.append(builder.build(number, label=title or f"slide {number}"))
        metadata = _core_metadata(presentation.core_properties)
        metadata["slide_count"] = str(len(pages))
        first_title = next((p.label for p in pages if not p.label.startswith("slide ")), "")
        title = choose_title(raw, metadata.get("title"), first_title)
        return ParsedDocument(raw.uri, title, pages, "pptx", metadata, warnings)
