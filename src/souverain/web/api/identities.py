"""Source identities of a user (administrators): which ``ext:<namespace>:<id>`` principals it holds.

Linking says "this Souverain user is that person in that source" (a Microsoft Entra object id, a
Google address, a Nextcloud user id), so the source's permissions reach the user. ``effective`` adds
the source groups those identities are members of (synced by the connectors), which is what the
user's searches are filtered with. Sign-in can maintain one namespace automatically
(``SOUVERAIN_OIDC_EXTERNAL_NAMESPACE``, governance/external_ids.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from ...governance.identity import IdentityError, NotFoundError
from ..deps import ADMIN, IdPath, ServiceDep
from .errors import AUTH_ERRORS, errors

router = APIRouter(prefix="/api/v1/admin/users", tags=["admin"], dependencies=[ADMIN], responses=AUTH_ERRORS)


class LinkIn(BaseModel):
    namespace: str = Field(min_length=1, max_length=64, description="e.g. m365, gdrive, nextcloud")
    external_id: str = Field(min_length=1, max_length=320, description="how the source names the user")


class IdentitiesOut(BaseModel):
    linked: list[str]
    effective: list[str]


def _out(svc: Any, user_id: int) -> dict[str, Any]:
    try:
        linked, effective = svc.identity.external_principals(user_id)
    except NotFoundError:
        raise HTTPException(404, "user not found") from None
    return {"linked": linked, "effective": effective}


@router.get("/{user_id}/external-identities", response_model=IdentitiesOut, responses=errors(404))
def list_identities(user_id: IdPath, svc: ServiceDep) -> dict[str, Any]:
    return _out(svc, user_id)


@router.post("/{user_id}/external-identities", response_model=IdentitiesOut, responses=errors(400, 404))
def link_identity(user_id: IdPath, body: LinkIn, svc: ServiceDep) -> dict[str, Any]:
    try:
        svc.identity.add_external_principal(user_id, body.namespace, body.external_id)
    except NotFoundError:
        raise HTTPException(404, "user not found") from None
    except (IdentityError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from None
    return _out(svc, user_id)


@router.delete("/{user_id}/external-identities", response_model=IdentitiesOut, responses=errors(404))
def unlink_identity(user_id: IdPath, svc: ServiceDep,
                    principal: str = Query(min_length=5, max_length=400, description="e.g. ext:m365:<id>")) -> dict[str, Any]:
    out = _out(svc, user_id)
    if principal not in out["linked"]:
        raise HTTPException(404, "the user does not hold this identity")
    svc.identity.remove_external_principal(user_id, principal)
    return _out(svc, user_id)
