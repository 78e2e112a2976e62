"""Sources (administrators only, scope ``admin``): add, list, change, check, sync, remove.

Settings are validated by the connector's own model (400 with the offending fields named);
credentials inside them are ``env:``/``file:`` references, so nothing secret is ever accepted,
stored or returned. ``kinds`` lists each connector with the JSON schema of its settings, which is
what the web UI builds its form from. A sync is a job (``/api/v1/jobs/{id}``: progress, ETA, cancel).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from ...sources.base import SourceError
from ...sources.manager import SourceConfigError, SourceNotFound, SyncBusyError
from ...sources.registry import CONNECTORS, TITLES, connector_class
from ..deps import ADMIN, PrincipalDep, ServiceDep
from .errors import AUTH_ERRORS, errors
from .schemas import JobEnvelope

router = APIRouter(prefix="/api/v1/sources", tags=["sources"], dependencies=[ADMIN], responses=AUTH_ERRORS)


class SourceIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    kind: str = Field(min_length=1, max_length=32)
    settings: dict[str, Any]
    schedule_minutes: int = Field(default=60, ge=0, le=10080)
    enabled: bool = True
    watch: bool = False


class SourcePatch(BaseModel):
    settings: dict[str, Any] | None = None
    schedule_minutes: int | None = Field(default=None, ge=0, le=10080)
    enabled: bool | None = None
    watch: bool | None = None


class SourceOut(BaseModel):
    id: int
    name: str
    kind: str
    kind_title: str
    settings: dict[str, Any]
    schedule_minutes: int
    enabled: bool
    watch: bool
    created_at: str
    state: str
    last_started_at: str | None
    last_finished_at: str | None
    last_success_at: str | None
    last_pruned_at: str | None
    last_error: str | None
    counts: dict[str, int]
    next_run_at: str | None
    resuming: bool
    items: dict[str, int]


class SourcesOut(BaseModel):
    sources: list[SourceOut]


class KindOut(BaseModel):
    kind: str
    title: str
    settings_schema: dict[str, Any]


class KindsOut(BaseModel):
    kinds: list[KindOut]


class CheckOut(BaseModel):
    ok: bool
    message: str


class SyncIn(BaseModel):
    full: bool = False
    prune: bool = False


class RemovedOut(BaseModel):
    removed_documents: int


def _get(svc: Any, name: str) -> dict[str, Any]:
    try:
        out: dict[str, Any] = svc.sources.get(name)
        return out
    except SourceNotFound:
        raise HTTPException(404, "source not found") from None


@router.get("/kinds", response_model=KindsOut)
def kinds() -> dict[str, Any]:
    out = []
    for kind in CONNECTORS:
        try:
            schema = connector_class(kind).config_model.model_json_schema()
        except (ImportError, AttributeError, SourceError):
            continue  # a connector whose module is not installed in this build
        out.append({"kind": kind, "title": TITLES[kind], "settings_schema": schema})
    return {"kinds": out}


@router.get("", response_model=SourcesOut)
def list_sources(svc: ServiceDep) -> dict[str, Any]:
    return {"sources": svc.sources.all()}


@router.post("", response_model=SourceOut, status_code=201, responses=errors(400))
def add_source(body: SourceIn, svc: ServiceDep) -> dict[str, Any]:
    try:
        out: dict[str, Any] = svc.sources.add(body.name, body.kind, body.settings, body.schedule_minutes, body.enabled,
                                              body.watch)
    except SourceConfigError as exc:
        raise HTTPException(400, str(exc)) from None
    return out


@router.get("/{name}", response_model=SourceOut, responses=errors(404))
def get_source(name: str, svc: ServiceDep) -> dict[str, Any]:
    return _get(svc, name)


@router.patch("/{name}", response_model=SourceOut, responses=errors(400, 404))
def update_source(name: str, body: SourcePatch, svc: ServiceDep) -> dict[str, Any]:
    _get(svc, name)
    try:
        out: dict[str, Any] = svc.sources.update(name, settings=body.settings, schedule_minutes=body.schedule_minutes,
                                                 enabled=body.enabled, watch=body.watch)
    except SourceConfigError as exc:
        raise HTTPException(400, str(exc)) from None
    return out


@router.post("/{name}/check", response_model=CheckOut, responses=errors(404))
def check_source(name: str, svc: ServiceDep) -> dict[str, Any]:
    """Reach the source with its credentials (no sync). A failure is ``ok: false`` with the reason."""
    _get(svc, name)
    try:
        return {"ok": True, "message": svc.sources.check(name)}
    except SourceError as exc:
        return {"ok": False, "message": f"{exc.reason}: {exc}"}


@router.post("/{name}/sync", response_model=JobEnvelope, status_code=202, responses=errors(404, 409))
def sync_source(name: str, svc: ServiceDep, principal: PrincipalDep, body: SyncIn | None = None) -> dict[str, Any]:
    _get(svc, name)
    try:
        job = svc.sources.submit_sync(name, full=bool(body and body.full), submitted_by=principal.user.id,
                                      prune=bool(body and body.prune))
    except SyncBusyError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"job": job}


@router.delete("/{name}", response_model=RemovedOut, responses=errors(404, 409))
def remove_source(name: str, svc: ServiceDep) -> dict[str, Any]:
    """Remove the source and every document it brought into the index."""
    _get(svc, name)
    try:
        return {"removed_documents": svc.sources.remove(name)}
    except SyncBusyError as exc:
        raise HTTPException(409, str(exc)) from None
