"""The shared vocabulary of the pipeline.

Data flows one way: a source yields a ``RawDocument`` (bytes + metadata + ACL), a parser turns it into
a ``ParsedDocument`` (pages with sections and tables, every piece of text tied to its page and its
character span inside the page), the chunker cuts that into ``Chunk`` rows, and the index stores
chunks with their access principals. Searches always take an ``AccessFilter``.

Invariants:
- Page numbers start at 1, as a PDF viewer shows them. Formats without pages (HTML, Markdown, DOCX)
  have one page; spreadsheets have one page per sheet; slides one page per slide.
- ``Chunk.char_start``/``char_end`` index into ``ParsedDocument.pages[page-1].text``: the quote a
  citation shows can always be cut back out of the stored page text.
- Principals are prefixed strings: ``user:<id>``, ``group:<id>``, ``ext:<source>:<id>``, ``public``.
  A document with no principals is invisible to everyone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Literal

PUBLIC = "public"

PRINCIPAL_PREFIXES = ("user:", "group:", "ext:")


def validate_principal(principal: str) -> str:
    """Return the principal unchanged, or raise ValueError when it has no known prefix."""
    if principal == PUBLIC or (
        principal.startswith(PRINCIPAL_PREFIXES) and len(principal.split(":", 1)[1]) > 0
    ):
        return principal
    raise ValueError(f"invalid principal {principal!r}: expected 'public', 'user:…', 'group:…' or 'ext:…'")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RawDocument:
    """Bytes fetched from a source, before parsing."""

    uri: str  # stable identity inside the index: a path or a source URI
    data: bytes
    title: str = ""
    source: str = "local"
    mime_type: str = ""  # optional hint; parsers also look at the extension and magic bytes
    modified_at: dt.datetime | None = None
    principals: tuple[str, ...] = (PUBLIC,)
    metadata: dict[str, str] = field(default_factory=dict, compare=False, hash=False)  # e.g. web_url, source path

    @property
    def sha256(self) -> str:
        return content_hash(self.data)

    @property
    def extension(self) -> str:
        name = self.uri.rsplit("/", 1)[-1]
        return name.rsplit(".", 1)[-1].lower() if "." in name else ""


@dataclass
class Section:
    """A span of a page's text under a heading path (e.g. ("Travel", "Hotels"))."""

    heading_path: tuple[str, ...]
    char_start: int
    char_end: int
    kind: Literal["text", "table"] = "text"


@dataclass
class Page:
    number: int  # 1-based
    text: str
    sections: list[Section] = field(default_factory=list)
    label: str = ""  # e.g. a sheet name, a slide title, "attachment: report.pdf p. 2"


@dataclass
class ParsedDocument:
    uri: str
    title: str
    pages: list[Page]
    format: str  # "pdf", "docx", "pptx", "xlsx", "csv", "html", "markdown", "text", "eml"
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def char_count(self) -> int:
        return sum(len(p.text) for p in self.pages)

    @property
    def has_text(self) -> bool:
        return any(p.text.strip() for p in self.pages)


@dataclass
class Chunk:
    doc_uri: str
    ordinal: int  # position inside the document
    text: str
    page: int  # 1-based
    char_start: int  # into pages[page-1].text
    char_end: int
    heading_path: tuple[str, ...] = ()
    language: str = ""
    kind: Literal["text", "table"] = "text"

    @property
    def sha256(self) -> str:
        return content_hash(self.text.encode("utf-8"))


@dataclass(frozen=True)
class AccessFilter:
    """The principals a search acts for. Part of every query; there is no way to search without one."""

    principals: frozenset[str]
    reason: str = ""

    def __post_init__(self) -> None:
        for p in self.principals:
            validate_principal(p)
        if not self.principals:
            raise ValueError("an AccessFilter needs at least one principal")

    @classmethod
    def public(cls) -> AccessFilter:
        return cls(frozenset({PUBLIC}), reason="anonymous: public documents only")

    @classmethod
    def for_principals(cls, principals: list[str] | tuple[str, ...] | set[str], reason: str = "") -> AccessFilter:
        return cls(frozenset(principals), reason=reason)


@dataclass(frozen=True)
class SearchFilters:
    """Optional narrowing of a search; semantics in docs/FILTER_SEMANTICS.md."""

    sources: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    modified_after: dt.datetime | None = None
    modified_before: dt.datetime | None = None
    uri_prefix: str = ""


@dataclass
class SearchHit:
    chunk_id: int
    doc_uri: str
    title: str
    page: int
    char_start: int
    char_end: int
    text: str
    score: float
    heading_path: tuple[str, ...] = ()
    language: str = ""
    format: str = ""
    source: str = ""
    lexical_score: float | None = None
    dense_score: float | None = None
    lexical_rank: int | None = None
    dense_rank: int | None = None
