"""Liveness and index status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import READ, ServiceDep
from .errors import AUTH_ERRORS
from .schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
def healthz(svc: ServiceDep) -> dict[str, Any]:
    """Liveness plus the counts a monitor wants: documents, chunks, pending embeddings."""
    st = svc.store.stats()
    return {"status": "ok", "documents": st["documents"], "chunks": st["chunks"],
            "chunks_awaiting_embeddings": svc.worker.pending(), "embedding_error": svc.worker.last_error or None}


@router.get("/api/v1/status", dependencies=[READ], responses=AUTH_ERRORS)
def status(svc: ServiceDep) -> dict[str, Any]:
    return svc.status()
