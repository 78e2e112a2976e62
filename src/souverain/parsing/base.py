"""Parser protocol, limits, errors, format detection and the parser registry.

Design facts:
- ``parse_document`` is the only entry point the pipeline calls. It checks the size limit, detects the
  format from the extension *and* the magic bytes, and hands the bytes to the one parser registered
  for that format. Parsers are imported lazily, so importing this package never pulls in pypdfium2,
  openpyxl and friends.
- Detection rules: the extension names the format, the content must agree. A ``.pdf`` whose bytes
  are a ZIP, or a ``.docx`` that is not an Office ZIP, is a ``CorruptDocument`` (reason
  ``format_mismatch``), never a silent re-interpretation. A file without a known extension is
  recognised by magic bytes (``%PDF-``, Office ZIP containers), then by the MIME hint, and only then as
  plain text, and only when it decodes as strict UTF-8 (or has a BOM) with no NUL bytes; anything else
  is ``UnsupportedFormat``.
- Every failure is a ``ParseError`` subclass with a short ``reason`` code (for metrics and the UI) and a
  message that starts with the file name and says what to do. Unexpected exceptions raised inside a
  third-party parser are wrapped in ``CorruptDocument`` with the original chained as ``__cause__``.
- Adding a format: write one module with a class that satisfies ``Parser`` and add one ``ParserSpec``
  line to ``_REGISTRY``.
"""

from __future__ import annotations

import importlib
import io
import zipfile
from dataclasses import dataclass
from typing import Protocol

from souverain.documents import ParsedDocument, RawDocument

MiB = 1024 * 1024


@dataclass(frozen=True)
class ParseLimits:
    """Resource limits applied to every document (and, recursively, to e-mail attachments)."""

    max_bytes: int = 100 * MiB
    max_uncompressed_bytes: int = 500 * MiB  # sum of member sizes in a ZIP container (DOCX/PPTX/XLSX)
    max_zip_ratio: int = 100  # uncompressed/compressed ratio of any member larger than 1 MiB
    max_pages: int = 5000
    max_attachment_depth: int = 3  # e-mail inside e-mail inside e-mail...


# ---------------------------------------------------------------- errors


def display_name(uri: str) -> str:
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    return name or uri or "<unnamed>"


class ParseError(Exception):
    """A document could not be parsed. ``reason`` is a short stable code, ``str(err)`` a human message."""

    reason = "parse_error"

    def __init__(self, uri: str, message: str, *, reason: str | None = None) -> None:
        self.uri = uri
        self.detail = message
        if reason is not None:
            self.reason = reason
        super().__init__(f"{display_name(uri)}: {message}")


class UnsupportedFormat(ParseError):
    reason = "unsupported_format"


class FileTooLarge(ParseError):
    reason = "file_too_large"


class EmptyFile(ParseError):
    reason = "empty_file"


class EncryptedDocument(ParseError):
    reason = "encrypted"


class CorruptDocument(ParseError):
    reason = "corrupt"


class ZipBombSuspected(ParseError):
    reason = "zip_bomb_suspected"


# ---------------------------------------------------------------- protocol and registry


class Parser(Protocol):
    formats: tuple[str, ...]

    def parse(self, raw: RawDocument, limits: ParseLimits) -> ParsedDocument: ...


@dataclass(frozen=True)
class ParserSpec:
    format: str
    target: str  # "module:Class", imported on first use
    extensions: tuple[str, ...]
    mime_types: tuple[str, ...] = ()
    binary: bool = False  # binary formats must be confirmed by their magic bytes


_REGISTRY: tuple[ParserSpec, ...] = (
    ParserSpec("pdf", "souverain.parsing.pdf:PdfParser", ("pdf",), ("application/pdf",), binary=True),
    ParserSpec("docx", "souverain.parsing.office:DocxParser", ("docx",),
               ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",), binary=True),
    ParserSpec("pptx", "souverain.parsing.office:PptxParser", ("pptx",),
               ("application/vnd.openxmlformats-officedocument.presentationml.presentation",), binary=True),
    ParserSpec("xlsx", "souverain.parsing.sheets:XlsxParser", ("xlsx", "xlsm"),
               ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",), binary=True),
    ParserSpec("csv", "souverain.parsing.sheets:CsvParser", ("csv", "tsv"), ("text/csv",)),
    ParserSpec("html", "souverain.parsing.html:HtmlParser", ("html", "htm", "xhtml"), ("text/html",)),
    ParserSpec("markdown", "souverain.parsing.markdown:MarkdownParser", ("md", "markdown"), ("text/markdown",)),
    ParserSpec("text", "souverain.parsing.text:TextParser", ("txt", "text", "log"), ("text/plain",)),
    ParserSpec("eml", "souverain.parsing.email:EmlParser", ("eml",), ("message/rfc822",)),
)

_BY_FORMAT = {spec.format: spec for spec in _REGISTRY}
_BY_EXTENSION = {ext: spec for spec in _REGISTRY for ext in spec.extensions}
_BY_MIME = {mime: spec for spec in _REGISTRY for mime in spec.mime_types}
_LOADED: dict[str, Parser] = {}

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_BY_EXTENSION)
SUPPORTED_FORMATS: tuple[str, ...] = tuple(_BY_FORMAT)


def get_parser(fmt: str) -> Parser:
    if fmt not in _LOADED:
        module_name, _, class_name = _BY_FORMAT[fmt].target.partition(":")
        _LOADED[fmt] = getattr(importlib.import_module(module_name), class_name)()
    return _LOADED[fmt]


# ---------------------------------------------------------------- detection

_ZIP_MARKERS = (("word/document.xml", "docx"), ("ppt/presentation.xml", "pptx"), ("xl/workbook.xml", "xlsx"))


def _zip_names(data: bytes) -> list[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
        return []


def sniff_magic(data: bytes) -> str | None:
    """Format named by the content's magic bytes: a registry format, "zip", "ole" or None."""
    idx = data[:1024].find(b"%PDF-")
    # PDF readers accept junk before the header; a text file that merely mentions "%PDF-" is not a PDF
    if idx == 0 or (idx > 0 and (not data[:idx].strip() or b"\x00" in data[:idx] or not data[:idx].isascii())):
        return "pdf"
    if data[:4] == b"PK\x03\x04":
        window = data[: 64 * 1024]  # member names usually sit in local headers near the start
        names = [marker for marker, _ in _ZIP_MARKERS if marker.encode() in window] or _zip_names(data)
        return next((fmt for marker, fmt in _ZIP_MARKERS if marker in names), "zip")
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "ole"
    return None


_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")  # stream name inside encrypted OOXML (OLE) files
_DESCRIBE = {
    "pdf": "a PDF file", "docx": "a DOCX file", "pptx": "a PPTX file", "xlsx": "an XLSX file",
    "zip": "a plain ZIP archive", "ole": "a legacy Office (OLE) file",
}


def _looks_like_text(data: bytes) -> bool:
    sample = data[: 64 * 1024]
    if sample.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:  # not merely a multi-byte character cut by the sample
            return False
    return True


def detect_format(raw: RawDocument) -> str:
    """Return the registry format for ``raw`` or raise ``UnsupportedFormat``/``CorruptDocument``."""
    magic = sniff_magic(raw.data)
    ext = raw.extension
    spec = _BY_EXTENSION.get(ext)
    if spec is not None:
        if spec.format in ("docx", "pptx", "xlsx") and magic == "ole" and _ENCRYPTION_INFO in raw.data[:MiB]:
            raise EncryptedDocument(raw.uri, f"the {spec.format.upper()} file is password-protected; "
                                    "provide a copy without a password")
        if spec.binary and magic != spec.format:
            found = _DESCRIBE.get(magic or "", f"not a {spec.format.upper()} file")
            raise CorruptDocument(raw.uri, f"the .{ext} extension says {spec.format.upper()} but the content is "
                                  f"{found}", reason="format_mismatch")
        if not spec.binary and magic in ("pdf", "docx", "pptx", "xlsx", "zip", "ole"):
            raise CorruptDocument(
                raw.uri, f"the .{ext} extension says {spec.format} but the content is {_DESCRIBE[magic]}",
                reason="format_mismatch",
            )
        return spec.format
    if magic in _BY_FORMAT:
        return magic
    if magic == "ole":
        raise UnsupportedFormat(raw.uri, "legacy Office binary files (.doc/.xls/.ppt) are not supported; "
                                "save the file as .docx/.xlsx/.pptx")
    if magic == "zip":
        raise UnsupportedFormat(raw.uri, "ZIP archives are not supported; extract the files first")
    mime = raw.mime_type.split(";", 1)[0].strip().lower()
    if mime in _BY_MIME and not _BY_MIME[mime].binary:
        return _BY_MIME[mime].format
    if _looks_like_text(raw.data):
        head = raw.data[:512].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")):
            return "html"
        return "text"
    what = f".{ext} files" if ext else "files without an extension that are not plain text"
    supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
    raise UnsupportedFormat(raw.uri, f"{what} are not supported (supported: {supported})")


# ---------------------------------------------------------------- entry point


def parse_document(raw: RawDocument, limits: ParseLimits | None = None) -> ParsedDocument:
    """Parse ``raw`` into a ``ParsedDocument`` or raise a ``ParseError`` subclass."""
    limits = limits or ParseLimits()
    size = len(raw.data)
    if size > limits.max_bytes:
        raise FileTooLarge(raw.uri, f"the file is {size / MiB:.1f} MiB, above the "
                           f"{limits.max_bytes / MiB:.1f} MiB limit (ParseLimits.max_bytes)")
    if size == 0 or not raw.data.strip():
        raise EmptyFile(raw.uri, "the file is empty (0 bytes)" if size == 0 else "the file holds only whitespace")
    fmt = detect_format(raw)
    try:
        doc = get_parser(fmt).parse(raw, limits)
    except ParseError:
        raise
    except (MemoryError, RecursionError) as exc:
        raise CorruptDocument(raw.uri, f"the {fmt} document is too complex to parse ({type(exc).__name__})") from exc
    except Exception as exc:  # third-party parsers raise anything on malformed input
        raise CorruptDocument(raw.uri, f"the {fmt} document is damaged or malformed: "
                              f"{type(exc).__name__}: {exc}") from exc
    if len(doc.pages) > limits.max_pages:
        raise FileTooLarge(raw.uri, f"the document has {len(doc.pages)} pages, above the "
                           f"{limits.max_pages} page limit (ParseLimits.max_pages)")
    _check_invariants(doc)
    return doc


def _check_invariants(doc: ParsedDocument) -> None:
    for i, page in enumerate(doc.pages, start=1):
        if page.number != i:
            raise RuntimeError(f"parser bug: page {page.number} at position {i} in {doc.uri}")
        for s in page.sections:
            if not 0 <= s.char_start <= s.char_end <= len(page.text):
                raise RuntimeError(f"parser bug: section {s} outside page {i} of {doc.uri}")


def title_from_uri(uri: str) -> str:
    name = display_name(uri)
    return name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name


def choose_title(raw: RawDocument, *candidates: str | None) -> str:
    """First non-empty candidate (metadata title, first heading), else the source's title, else the file name."""
    for candidate in (*candidates, raw.title):
        if candidate and candidate.strip():
            return " ".join(candidate.split())[:300]
    return title_from_uri(raw.uri)
