"""GET /api/v1/models: answer modes and the configured models (names only, never keys or URLs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import READ, ServiceDep
from .errors import AUTH_ERRORS
from .schemas import ModelsOut

router = APIRouter(prefix="/api/v1", tags=["models"], dependencies=[READ], responses=AUTH_ERRORS)


@router.get("/models", response_model=ModelsOut)
def models(svc: ServiceDep) -> dict[str, Any]:
    s = svc.settings
    return {"answer_modes": ["extractive", "generative"], "default_mode": s.effective_answer_mode,
            "llm": {"backend": s.llm_backend, "model": s.llm_model_path.rsplit("/", 1)[-1] if s.llm_model_path else s.llm_model},
            "embedder": {"backend": s.embedder, "model": svc.embedder.name}}
