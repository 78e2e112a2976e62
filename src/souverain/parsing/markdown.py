"""Markdown via markdown-it-py (CommonMark + tables).

Design facts:
- ATX and setext headings build heading paths (``#`` = level 1). The page text is the readable text,
  not the markup: emphasis markers dropped, link text kept (URLs dropped), images dropped, inline
  HTML dropped, HTML blocks reduced to their text, code kept verbatim.
- Lists become ``- item`` / ``1. item`` lines in one block; tables ``cell | cell`` rows in a
  ``kind="table"`` section.
- A leading YAML front-matter block is not text; its ``title:`` is the document's metadata title.
"""

from __future__ import annotations

import re
from typing import Any

from souverain.documents import ParsedDocument, RawDocument
from souverain.parsing._text import HeadingStack, PageBuilder, normalise_inline, table_rows_text
from souverain.parsing.base import ParseLimits, choose_title
from souverain.parsing.text import decode_text

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_FM_TITLE = re.compile(r"^title:[ \t]*[\"']?(.*?)[\"']?[ \t]*$", re.MULTILINE)


def _inline(token: Any) -> str:
    parts = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
    return "".join(parts)


class _Renderer:
    def __init__(self) -> None:
        self.builder = PageBuilder()
        self.headings = HeadingStack()
        self.first_heading = ""
        self.lists: list[list[Any]] = []  # [ordered?, next number]
        self.list_lines: list[str] = []
        self.prefix = ""
        self.rows: list[list[str]] = []

    def text(self, text: str) -> None:
        if self.lists:
            indent = "  " * (len(self.lists) - 1)
            self.list_lines.append(indent + (self.prefix or "  ") + normalise_inline(text))
            self.prefix = ""
        else:
            self.builder.add(text, self.headings.path)

    def render(self, tokens: list[Any]) -> None:
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            kind = tok.type
            if kind == "heading_open":
                text = normalise_inline(_inline(tokens[i + 1]))
                if text:
                    self.first_heading = self.first_heading or text
                    self.builder.add(text, self.headings.push(int(tok.tag[1]), text))
                i += 3
                continue
            if kind == "inline" and not self.rows:
                self.text(_inline(tok))
            elif kind in ("bullet_list_open", "ordered_list_open"):
                self.lists.append([kind == "ordered_list_open", int(tok.attrGet("start") or 1)])
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.pop()
                if not self.lists and self.list_lines:
                    self.builder.add("\n".join(self.list_lines), self.headings.path)
                    self.list_lines = []
            elif kind == "list_item_open":
                ordered, number = self.lists[-1]
                self.prefix = f"{number}. " if ordered else "- "
                self.lists[-1][1] = number + 1
            elif kind in ("fence", "code_block"):
                self.text(tok.content)
            elif kind == "html_block":
                from souverain.parsing.html import html_to_text

                self.text(html_to_text(tok.content))
            elif kind == "table_open":
                self.rows = [[]]
            elif kind == "tr_close":
                self.rows.append([])
            elif kind in ("th_open", "td_open"):
                self.rows[-1].append(_inline(tokens[i + 1]))
            elif kind == "table_close":
                self.builder.add(table_rows_text(self.rows), self.headings.path, "table")
                self.rows = []
            i += 1


class MarkdownParser:
    formats = ("markdown",)

    def parse(self, raw: RawDocument, limits: ParseLimits) -> ParsedDocument:
        from markdown_it import MarkdownIt

        warnings: list[str] = []
        text, encoding = decode_text(raw, warnings)
        metadata = {"encoding": encoding}
        front = _FRONT_MATTER.match(text)
        if front:
            title_match = _FM_TITLE.search(front.group(1))
            if title_match and title_match.group(1):
                metadata["title"] = title_match.group(1)
            text = text[front.end():]
        renderer = _Renderer()
        renderer.render(MarkdownIt("commonmark").enable("table").parse(text))
        if renderer.builder.empty:
            warnings.append("the document holds no text")
        title = choose_title(raw, metadata.get("title"), renderer.first_heading)
        return ParsedDocument(raw.uri, title, [renderer.builder.build(1)], "markdown", metadata, warnings)
