"""POST /api/v1/search."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ...documents import SearchFilters
from ..deps import READ, AccessDep, ServiceDep
from .errors import AUTH_ERRORS, errors

router = APIRouter(prefix="/api/v1", tags=["search"], dependencies=[READ], responses=AUTH_ERRORS)


class FiltersIn(BaseModel):
    sources: list[str] = []
    file_types: list[str] = Field(default=[], description="formats: pdf, docx, pptx, xlsx, csv, html, markdown, text, eml")
    languages: list[str] = []
    modified_after: dt.datetime | None = None
    modified_before: dt.datetime | None = None

    def to_filters(self) -> SearchFilters:
        return SearchFilters(tuple(self.sources), tuple(self.file_types), tuple(self.languages),
                             self.modified_after, self.modified_before)


class SearchIn(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=10, ge=1, le=200)
    mode: Literal["hybrid", "lexical", "dense"] = "hybrid"
    filters: FiltersIn = FiltersIn()


class HitOut(BaseModel):
    document: str
    title: str
    page: int
    score: float
    text: str
    char_start: int
    char_end: int
    heading_path: list[str]
    language: str
    format: str
    source: str


class SearchOut(BaseModel):
    results: list[HitOut]
    mode: str
    timings: dict[str, float]


@router.post("/search", responses=errors(400))
def search(body: SearchIn, svc: ServiceDep, access: AccessDep) -> SearchOut:
    """Hybrid search over the documents the caller may read."""
    res = svc.search(body.query, access, body.filters.to_filters(), body.k, body.mode)
    return SearchOut(
        results=[HitOut(document=h.doc_uri, title=h.title, page=h.page, score=h.score, text=h.text,
                        char_start=h.char_start, char_end=h.char_end, heading_path=list(h.heading_path),
                        language=h.language, format=h.format, source=h.source) for h in res.hits],
        mode=res.mode, timings=res.timings,
    )
