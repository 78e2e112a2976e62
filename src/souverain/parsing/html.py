"""HTML via selectolax (lexbor).

Design facts:
- Boilerplate is dropped: script, style, nav, footer, noscript, template, svg, iframe and the head.
- The body is walked in document order. h1-h6 build heading paths (h1 = level 1); block elements end a
  paragraph; ``<br>`` is a line break; source line breaks inside a paragraph are just spaces.
- Tables become ``cell | cell`` rows in a ``kind="table"`` section (caption first, if any).
- Title: ``<title>``, else the first ``<h1>``, else the first heading, else the file name.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from souverain.documents import ParsedDocument, RawDocument
from souverain.parsing._text import HeadingStack, PageBuilder, normalise_inline, table_rows_text
from souverain.parsing.base import ParseLimits, choose_title
from souverain.parsing.text import decode_text

_DROP = frozenset({"script", "style", "nav", "footer", "noscript", "template", "svg", "iframe", "head", "object"})
_BLOCK = frozenset({
    "p", "div", "section", "article", "main", "header", "aside", "ul", "ol", "li", "dl", "dt", "dd",
    "blockquote", "figure", "figcaption", "address", "hr", "details", "summary", "form", "fieldset",
    "body", "center", "caption",
})
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_SOURCE_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_BR = "\u2028"  # marks <br> while source whitespace is folded


class _Walker:
    def __init__(self) -> None:
        self.builder = PageBuilder()
        self.headings = HeadingStack()
        self.heading_texts: list[tuple[int, str]] = []
        self._buffer: list[str] = []
        self._in_item = False
        self._last_was_item = False

    def flush(self) -> None:
        text = _SOURCE_SPACE.sub(" ", "".join(self._buffer)).replace(_BR, "\n").strip()
        self._buffer = []
        if text and text != "-":
            tight = self._in_item and self._last_was_item
            self.builder.add(text, self.headings.path, separator="\n" if tight else "\n\n")
            self._last_was_item = self._in_item

    def _block(self, text: str, path: tuple[str, ...], kind: Literal["text", "table"] = "text") -> None:
        self.builder.add(text, path, kind)
        self._last_was_item = False

    def walk(self, node: Any) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                self._buffer.append(child.text(deep=False))
            elif tag in _DROP or tag.startswith("-"):
                continue
            elif tag in _HEADINGS:
                self.flush()
                text = normalise_inline(child.text(deep=True, separator=" "))
                if text:
                    self.heading_texts.append((_HEADINGS[tag], text))
                    self._block(text, self.headings.push(_HEADINGS[tag], text))
            elif tag == "table":
                self.flush()
                self._table(child)
            elif tag == "pre":
                self.flush()
                self._block(child.text(deep=True), self.headings.path)
            elif tag == "br":
                self._buffer.append(_BR)
            elif tag in _BLOCK:
                self.flush()
                outer = self._in_item
                self._in_item = tag == "li" or (outer and tag not in ("ul", "ol"))
                if tag == "li":
                    self._buffer.append("- ")
                self.walk(child)
                self.flush()
                self._in_item = outer
                if tag in ("ul", "ol"):
                    self._last_was_item = False
            else:
                self.walk(child)

    def _table(self, table: Any) -> None:
        caption = table.css_first("caption")
        if caption is not None:
            self._block(caption.text(deep=True, separator=" "), self.headings.path)
        rows = [
            [cell.text(deep=True, separator=" ") for cell in tr.iter() if cell.tag in ("td", "th")]
            for tr in table.css("tr")
        ]
        self._block(table_rows_text(rows), self.headings.path, "table")


def html_to_builder(html: str) -> tuple[_Walker, str, dict[str, str]]:
    """Walk an HTML string; return the walker (page builder + headings), the <title> and metadata."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    walker = _Walker()
    if tree.body is not None:
        walker.walk(tree.body)
        walker.flush()
    title_node = tree.css_first("title")
    title = normalise_inline(title_node.text()) if title_node is not None else ""
    metadata: dict[str, str] = {}
    if tree.root is not None and tree.root.attributes.get("lang"):
        metadata["language"] = str(tree.root.attributes["lang"])
    description = tree.css_first('meta[name="description"]')
    if description is not None and description.attributes.get("content"):
        metadata["description"] = normalise_inline(str(description.attributes["content"]))
    return walker, title, metadata


def html_to_text(html: str) -> str:
    walker, _, _ = html_to_builder(html)
    return walker.builder.build(1).text


class HtmlParser:
    formats = ("html",)

    def parse(self, raw: RawDocument, limits: ParseLimits) -> ParsedDocument:
        warnings: list[str] = []
        html, encoding = decode_text(raw, warnings)
        walker, title, metadata = html_to_builder(html)
        metadata["encoding"] = encoding
        if title:
            metadata["title"] = title
        h1 = next((t for level, t in walker.heading_texts if level == 1), "")
        first = walker.heading_texts[0][1] if walker.heading_texts else ""
        if walker.builder.empty:
            warnings.append("the page holds no visible text")
        return ParsedDocument(raw.uri, choose_title(raw, title, h1, first), [walker.builder.build(1)], "html",
                              metadata, warnings)
