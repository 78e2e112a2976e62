"""The index extension point: a CRUD store plus the retriever that belongs to the same backend.

Stores are CRUD only; each backend brings its own retriever so the access filter can be compiled
into that backend's query language (FTS5 + SQL for SQLite, tsvector + pgvector for PostgreSQL).
Both halves always take an ``AccessFilter``: there is no method that searches or reads chunk text
without one, except the ingestion-side calls that never return text to a user.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..documents import AccessFilter, Chunk, Page, SearchFilters, SearchHit


@dataclass
class DocumentRecord:
    uri: str
    title: str
    source: str
    format: str
    sha256: str
    size_bytes: int
    language: str = ""
    modified_at: dt.datetime | None = None
    ingested_at: dt.datetime | None = None
    page_count: int = 0
    char_count: int = 0
    chunk_count: int = 0
    principals: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    id: int | None = None


@dataclass
class PendingChunk:
    chunk_id: int
    embed_text: str
    sha256: str


class Store(Protocol):
    def get_document(self, uri: str) -> DocumentRecord | None: ...

    def list_documents(self, access: AccessFilter, limit: int = 100, offset: int = 0) -> list[DocumentRecord]: ...

    def replace_document(
        self, record: DocumentRecord, pages: Sequence[Page], chunks: Sequence[Chunk]
    ) -> int:
        """Insert or atomically replace a document with its pages, chunks and ACL. Returns its id."""
        ...

    def delete_document(self, uri: str) -> bool: ...

    def document_uris(self, prefix: str = "", source: str | None = None) -> list[str]: ...

    def pending_embeddings(self, model: str, limit: int) -> list[PendingChunk]: ...

    def cached_vectors(self, model: str, shas: Sequence[str]) -> dict[str, np.ndarray]: ...

    def add_vectors(self, model: str, items: Sequence[tuple[int, str, np.ndarray]]) -> None: ...

    def count_pending_embeddings(self, model: str) -> int: ...

    def page_text(self, uri: str, page: int, access: AccessFilter) -> str | None: ...

    def stats(self) -> dict[str, object]: ...


class Retriever(Protocol):
    def lexical(self, query: str, access: AccessFilter, filters: SearchFilters, k: int) -> list[SearchHit]: ...

    def dense(
        self, vector: np.ndarray, model: str, access: AccessFilter, filters: SearchFilters, k: int
    ) -> list[SearchHit]: ...

    def dense_scores(
        self, vector: np.ndarray, model: str, access: AccessFilter, chunk_ids: Sequence[int]
    ) -> dict[int, float]: ...
