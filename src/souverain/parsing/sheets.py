"""XLSX (openpyxl) and CSV.

Design facts:
- One page per worksheet, labelled with the sheet name (CSV: one page). The header row is kept as the
  first line; every further row is a self-describing line ``Header1: v1 | Header2: v2`` so that any
  chunk cut from the page still says what its numbers mean. The whole sheet is one
  ``kind="table"`` section under the heading path ``(sheet name,)``.
- openpyxl runs in read-only, values-only mode (cached formula results, not formulas); warnings it
  emits about unsupported features are recorded in ``ParsedDocument.warnings`` instead of escaping.
- CSV: the text is decoded with the shared policy (``text.decode_text``) and the delimiter sniffed
  among ``, ; TAB |``; a ``.tsv`` file is always tab-separated.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings as pywarnings
from typing import Any

from souverain.documents import Page, ParsedDocument, RawDocument
from souverain.parsing._text import PageBuilder, records_text
from souverain.parsing._zip import check_zip
from souverain.parsing.base import ParseLimits, choose_title
from souverain.parsing.text import decode_text


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


class XlsxParser:
    formats = ("xlsx",)

    def parse(self, raw: RawDocument, limits: ParseLimits) -> ParsedDocument:
        check_zip(raw, limits, "XLSX")
        import openpyxl

        warnings: list[str] = []
        pages: list[Page] = []
        with pywarnings.catch_warnings(record=True) as caught:
            pywarnings.simplefilter("always")
            workbook = openpyxl.load_workbook(io.BytesIO(raw.data), read_only=True, data_only=True)
            try:
                for number, sheet in enumerate(workbook.worksheets, start=1):
                    rows = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
                    builder = PageBuilder()
                    builder.add(records_text(rows), (sheet.title,), "table")
                    if builder.empty:
                        warnings.append(f"sheet {sheet.title!r} is empty")
                    pages.append(builder.build(number, label=sheet.title))
                props = workbook.properties
                metadata = {k: str(getattr(props, k)) for k in ("title", "creator", "subject") if getattr(props, k)}
            finally:
                workbook.close()
        warnings.extend(sorted({f"openpyxl: {w.message}" for w in caught}))
        metadata["sheet_count"] = str(len(pages))
        title = choose_title(raw, metadata.get("title"))
        return ParsedDocument(raw.uri, title, pages, "xlsx", metadata, warnings)


class CsvParser:
    formats = ("csv",)

    def parse(self, raw: RawDocument, limits: ParseLimits) -> ParsedDocument:
        warnings: list[str] = []
        text, encoding = decode_text(raw, warnings)
        if raw.extension == "tsv":
            delimiter = "\t"
        else:
            try:
                delimiter = csv.Sniffer().sniff(text[:20_000], delimiters=",;\t|").delimiter
            except csv.Error:
                delimiter = ","
                warnings.append("could not detect the CSV delimiter; assumed ','")
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        builder = PageBuilder()
        builder.add(records_text(rows), (), "table")
        if builder.empty:
            warnings.append("the CSV file holds no values")
        metadata = {"encoding": encoding, "delimiter": delimiter, "row_count": str(max(len(rows) - 1, 0))}
        return ParsedDocument(raw.uri, choose_title(raw), [builder.build(1)], "csv", metadata, warnings)
