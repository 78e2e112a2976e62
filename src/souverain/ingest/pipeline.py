"""Ingestion: files or raw documents in, one report per file out. Never silent, never destructive.

Each file ends in exactly one status:
- ``indexed``: parsed, chunked, stored (lexically searchable at once; vectors follow in the background),
- ``unchanged``: same content hash (and same permissions) as what is stored; nothing done,
- ``no_text``: parsed but no extractable text (e.g. a scanned PDF that needs OCR); any older
  version stays stored, since replacing text with nothing is never what the user wants,
- ``failed``: with the reason (corrupt, encrypted, too large, unsupported...); the stored version,
  if any, is kept and the batch continues,
- ``removed``: the file disappeared from a folder that was ingested before.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from ..documents import PUBLIC, RawDocument
from ..index.base import DocumentRecord
from ..index.sqlite_store import SQLiteStore
from ..parsing import ParseError, ParseLimits, parse_document
from ..text.analysis import detect_language
from .chunker import chunk_document

Status = Literal["indexed", "unchanged", "failed", "no_text", "removed"]


@dataclass
class FileReport:
    uri: str
    status: Status
    reason: str = ""
    message: str = ""
    format: str = ""
    pages: int = 0
    chars: int = 0
    chunks: int = 0
    language: str = ""
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class IngestOptions:
    limits: ParseLimits = field(default_factory=ParseLimits)
    chunk_tokens: int = 180
    overlap_tokens: int = 30
    principals: tuple[str, ...] = (PUBLIC,)
    source: str = "local"


def _hidden(path: Path) -> bool:
    return any(part.startswith(".") for part in path.parts if part not in (".", ".."))


def collect_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith(("." , "~$")))
    return files


class Ingestor:
    def __init__(self, store: SQLiteStore, options: IngestOptions | None = None) -> None:
        self.store = store
        self.options = options or IngestOptions()

    def ingest_paths(
        self, paths: Iterable[Path | str], progress: Callable[[FileReport], None] | None = None
    ) -> list[FileReport]:
        reports: list[FileReport] = []
        for given in paths:
            root = Path(given).expanduser().resolve()
            if not root.exists():
                rep = FileReport(str(root), "failed", "not_found", f"{root}: no such file or directory")
                self._report(rep, reports, progress)
                continue
            seen: set[str] = set()
            for path in collect_files(root):
                seen.add(str(path))
                self._report(self.ingest_file(path), reports, progress)
            if root.is_dir():
                prefix = str(root) + os.sep
                for uri in self.store.document_uris(prefix, source=self.options.source):
                    if uri not in seen and self.store.delete_document(uri):
                        self._report(FileReport(uri, "removed", message="file no longer in folder"), reports, progress)
        return reports

    def _report(self, rep: FileReport, reports: list[FileReport], progress: Callable[[FileReport], None] | None) -> None:
        self.store.record_report(rep.uri, rep.status, rep.reason, rep.as_dict())
        reports.append(rep)
        if progress:
            progress(rep)

    def ingest_file(self, path: Path, force: bool = False) -> FileReport:
        uri = str(path)
        try:
            size = path.stat().st_size
            if size > self.options.limits.max_bytes:
                return FileReport(uri, "failed", "file_too_large",
                                  f"file is {size / 1e6:.1f} MB, over the limit of "
                                  f"{self.options.limits.max_bytes / 1e6:.1f} MB")
            data = path.read_bytes()
            modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        except OSError as exc:
            return FileReport(uri, "failed", "unreadable", f"cannot read file: {exc.strerror or exc}")
        raw = RawDocument(uri=uri, data=data, title=path.stem, source=self.options.source,
                          modified_at=modified, principals=self.options.principals)
        return self.ingest_raw(raw, force)

    def ingest_raw(self, raw: RawDocument, force: bool = False) -> FileReport:
        """Parse, chunk and store one document; ``force`` re-parses it even when it is unchanged."""
        t0 = time.perf_counter()
        existing = self.store.get_document(raw.uri)
        sha = raw.sha256
        if not force and existing and existing.sha256 == sha and set(existing.principals) == set(raw.principals):
            return FileReport(raw.uri, "unchanged", format=existing.format, pages=existing.page_count,
                              chars=existing.char_count, chunks=existing.chunk_count, language=existing.language)
        try:
            parsed = parse_document(raw, self.options.limits)
        except ParseError as exc:
            return FileReport(raw.uri, "failed", exc.reason, str(exc), seconds=time.perf_counter() - t0)
        except Exception as exc:  # a parser bug must not stop the batch; it is reported, not hidden
            return FileReport(raw.uri, "failed", "parser_error", f"{type(exc).__name__}: {exc}",
                              seconds=time.perf_counter() - t0)
        rep = FileReport(raw.uri, "indexed", format=parsed.format, pages=len(parsed.pages),
                         chars=parsed.char_count, warnings=list(parsed.warnings))
        if not parsed.has_text:
            rep.status, rep.reason = "no_text", "no_extractable_text"
            rep.message = ("no extractable text" + (" (scanned PDF? it needs OCR)" if parsed.format == "pdf" else "")
                           + ("; the previously indexed version is kept" if existing else ""))
            rep.seconds = time.perf_counter() - t0
            return rep
        try:
            chunks = chunk_document(parsed, self.options.chunk_tokens, self.options.overlap_tokens)
        except Exception as exc:  # a chunker bug must not stop the batch either
            return FileReport(raw.uri, "failed", "chunker_error", f"{type(exc).__name__}: {exc}",
                              format=parsed.format, seconds=time.perf_counter() - t0)
        rep.language = detect_language(" ".join(c.text for c in chunks[:20]))
        record = DocumentRecord(
            uri=raw.uri, title=parsed.title or raw.title, source=raw.source, format=parsed.format, sha256=sha,
            size_bytes=len(raw.data), language=rep.language, modified_at=raw.modified_at,
            principals=tuple(raw.principals), metadata={**parsed.metadata, **raw.metadata},
        )
        self.store.replace_document(record, parsed.pages, chunks)
        rep.chunks = len(chunks)
        rep.seconds = time.perf_counter() - t0
        return rep
