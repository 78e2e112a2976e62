"""The administrators' model routes (``/api/v1/admin/models``, scope ``admin``; docs/gateway.md).

Design facts:

- ``GET /api/v1/admin/models``: every registry entry's card with its status (active/suspended, with the
  suspension), its health (``in-process``, ``up``/``down`` from the upstream health check, cached, or
  ``misconfigured: ...``), the residency policy, the registry file and the last 100 suspension events.
- ``POST .../{alias}/suspend`` (``{"reason": ...}``) and ``.../resume``: effective on the next request
  (the suspension table is read per request); 404 for an unknown alias, 409 when already in that state.
- These are ordinary Souverain API routes: ``{"detail": ...}`` errors, session or API key, unlike /v1.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field

from ..web.api.errors import AUTH_ERRORS
from ..web.api.errors import errors as detail_errors
from ..web.deps import ADMIN, PrincipalDep, ServiceDep
from . import errors
from .backends import Gateway
from .models import ModelEntry, SuspensionConflict

log = logging.getLogger(__name__)

admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[ADMIN], responses=AUTH_ERRORS)


class SuspendIn(BaseModel):
    reason: str = Field(default="", max_length=500)


def _gateway(svc: Any) -> Gateway:
    return svc.gateway


AliasPath = Annotated[str, Path(min_length=1, max_length=200)]


def _health(gw: Gateway, entry: ModelEntry) -> str:
    if entry.in_process:
        return "in-process"
    try:
        return "up" if gw.pool.backend(entry.alias).healthy() else "down"
    except errors.GatewayError as exc:
        return f"misconfigured: {exc.message}"


def _admin_card(gw: Gateway, entry: ModelEntry, suspensions: dict[str, Any]) -> dict[str, Any]:
    s = suspensions.get(entry.alias)
    return {"alias": entry.alias, "status": "suspended" if s else "active", "suspension": s.as_dict() if s else None,
            "health": _health(gw, entry), **entry.card(admin=True)}


@admin_router.get("/models")
def admin_models(svc: ServiceDep) -> dict[str, Any]:
    """The gateway's registry: every model's card, status (active/suspended), health; the residency policy."""
    gw = _gateway(svc)
    active = gw.suspensions.all_active()
    return {"models": [_admin_card(gw, e, active) for e in gw.registry.entries()],
            "residency": gw.registry.policy.describe(), "registry_file": gw.registry.source or None,
            "history": [s.as_dict() for s in gw.suspensions.history(limit=100)]}


def _known(gw: Gateway, alias: str) -> ModelEntry:
    entry = gw.registry.get(alias)
    if entry is None:
        raise HTTPException(404, f"no model {alias!r} in the gateway registry")
    return entry


@admin_router.post("/models/{alias}/suspend", responses=detail_errors(404, 409))
def suspend_model(alias: AliasPath, body: SuspendIn, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Suspend a model at once: its requests get 503 ``model_suspended``; it is skipped as a fallback."""
    gw = _gateway(svc)
    _known(gw, alias)
    try:
        s = gw.suspensions.suspend(alias, principal.user.username, body.reason)
    except SuspensionConflict as exc:
        raise HTTPException(409, str(exc)) from None
    log.warning("model %s suspended by %s: %s", alias, principal.user.username, body.reason)
    return {"alias": alias, "status": "suspended", "suspension": s.as_dict()}


@admin_router.post("/models/{alias}/resume", responses=detail_errors(404, 409))
def resume_model(alias: AliasPath, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """End a model's suspension."""
    gw = _gateway(svc)
    _known(gw, alias)
    try:
        s = gw.suspensions.resume(alias, principal.user.username)
    except SuspensionConflict as exc:
        raise HTTPException(409, str(exc)) from None
    log.warning("model %s resumed by %s", alias, principal.user.username)
    return {"alias": alias, "status": "active", "suspension": s.as_dict()}
