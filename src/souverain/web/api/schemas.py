"""Response models: what the OpenAPI schema promises for each JSON resource (see docs/web-api.md).

The routes build plain dicts; declaring these as ``response_model`` documents them and makes
FastAPI check every response against them (schemathesis checks the same from the outside).
Answer objects (``/ask``, conversation messages) stay free-form objects: they are JSON or SSE.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, PlainSerializer

# Serialised with ``isoformat()`` like the rest of the API (``+00:00``, not pydantic's ``Z``).
IsoDatetime = Annotated[dt.datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json")]


class DocumentOut(BaseModel):
    id: int | None  # null for an upload that failed (or had no text) and was never indexed
    document: str
    title: str
    format: str
    source: str
    language: str
    pages: int
    chars: int
    chunks: int
    size_bytes: int | None
    modified_at: IsoDatetime | None
    ingested_at: IsoDatetime | None
    status: str
    reason: str
    message: str
    warnings: list[Any]


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]


class PageOut(BaseModel):
    document: str
    title: str
    page: int
    pages: int
    label: str
    text: str


class JobOut(BaseModel):
    id: int
    kind: Literal["upload", "reingest", "path", "sync"]
    status: Literal["queued", "running", "done", "cancelled", "failed"]
    total: int
    done: int
    current: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    eta_s: float | None
    error: str | None
    reports: list[dict[str, Any]]
    source: str | None = None  # the source a sync job syncs


class JobEnvelope(BaseModel):
    job: JobOut


class JobsOut(BaseModel):
    jobs: list[JobOut]


class ConversationOut(BaseModel):
    id: int
    title: str
    created_at: str
    updated_at: str
    messages: int


class ConversationsOut(BaseModel):
    conversations: list[ConversationOut]


class MessageOut(BaseModel):
    id: int
    role: Literal["user", "assistant"]
    content: str
    answer: dict[str, Any] | None
    created_at: str


class ConversationDetailOut(BaseModel):
    id: int
    title: str
    created_at: str
    updated_at: str
    messages: list[MessageOut]


class NamedModel(BaseModel):
    backend: str
    model: str


class ModelsOut(BaseModel):
    answer_modes: list[Literal["extractive", "generative"]]
    default_mode: Literal["extractive", "generative"]
    llm: NamedModel
    embedder: NamedModel


class HealthOut(BaseModel):
    status: Literal["ok"]
    documents: int
    chunks: int
    chunks_awaiting_embeddings: int
    embedding_error: str | None
