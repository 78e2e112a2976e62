"""Administration (role admin, scope ``admin``): users, groups, API keys; and a user's own API keys.

Identity errors (a taken name, an invalid value, the last admin) are 400s; unknown ids are 404s.
A new API key is returned once, in the creation response, and never again.

Model gateway limits (docs/metering.md): ``GET/PUT /admin/keys/{public_id}/limits`` and
``GET/PUT /admin/users/{user_id}/limits`` (rpm, tpm, tokens_per_month, models, team_id; PUT replaces
them all, all null removes them); a key can also be created with its ``limits``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from ...gateway.accounting import Limits, clean_limits
from ...governance.identity import GroupCycleError, IdentityError, NotFoundError, User
from ...index.sqlite_identity import ApiKeyRecord
from ..deps import ADMIN, IdPath, PrincipalDep, ServiceDep
from .errors import AUTH_ERRORS, errors

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[ADMIN], responses=AUTH_ERRORS)
me_router = APIRouter(prefix="/api/v1/me", tags=["me"], responses=AUTH_ERRORS)
Scope = Literal["read", "ask", "ingest", "admin", "models"]


class _Raise:
    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if isinstance(exc, NotFoundError):
            raise HTTPException(404, str(exc)) from None
        if isinstance(exc, (IdentityError, GroupCycleError, PermissionError)):
            raise HTTPException(400, str(exc)) from None
        return False


identity_errors = _Raise


def user_json(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "display_name": u.display_name, "email": u.email, "role": u.role,
            "disabled": u.disabled, "created_at": u.created_at.isoformat(), "has_password": u.has_password}


def key_json(k: ApiKeyRecord) -> dict[str, Any]:
    return {"id": k.id, "public_id": k.public_id, "user_id": k.user_id, "username": k.username, "name": k.name,
            "scopes": sorted(k.scopes), "created_at": k.created_at.isoformat(), "expires_at": k.expires_at.isoformat(),
            "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}


# users -----------------------------------------------------------------------------------------

class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    role: Literal["admin", "member", "auditor"] = "member"
    display_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)


class UserPatch(BaseModel):
    role: Literal["admin", "member", "auditor"] | None = None
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    disabled: bool | None = None


@router.get("/users")
def list_users(svc: ServiceDep) -> dict[str, Any]:
    return {"users": [user_json(u) for u in svc.identity.list_users()]}


@router.post("/users", status_code=201, responses=errors(400))
def create_user(body: UserIn, svc: ServiceDep) -> dict[str, Any]:
    with identity_errors():
        return user_json(svc.identity.create_user(body.username, role=body.role, password=body.password,
                                                  display_name=body.display_name, email=body.email))


@router.patch("/users/{user_id}", responses=errors(400, 404))
def patch_user(user_id: IdPath, body: UserPatch, svc: ServiceDep) -> dict[str, Any]:
    """Change role, profile or disabled state; disabling ends every session and stops the user's keys."""
    ident = svc.identity
    with identity_errors():
        ident.user(user_id)
        if body.role is not None:
            ident.set_role(user_id, body.role)
        if body.display_name is not None or body.email is not None:
            ident.update_profile(user_id, display_name=body.display_name, email=body.email)
        if body.disabled is True:
            ident.disable_user(user_id)
        elif body.disabled is False:
            ident.enable_user(user_id)
        return user_json(ident.user(user_id))


@router.post("/users/{user_id}/disable", responses=errors(400, 404))
def disable_user(user_id: IdPath, svc: ServiceDep) -> dict[str, Any]:
    with identity_errors():
        return user_json(svc.identity.disable_user(user_id))


@router.post("/users/{user_id}/enable", responses=errors(400, 404))
def enable_user(user_id: IdPath, svc: ServiceDep) -> dict[str, Any]:
    with identity_errors():
        return user_json(svc.identity.enable_user(user_id))


# groups ----------------------------------------------------------------------------------------

class GroupIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=500)


class MemberIn(BaseModel):
    user_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    group_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


def group_json(svc: ServiceDep, group_id: int) -> dict[str, Any]:
    g = svc.identity.group(group_id)
    users, groups = svc.identity.group_members(group_id)
    return {"id": g.id, "name": g.name, "description": g.description, "principal": f"group:{g.id}",
            "users": [{"id": u.id, "username": u.username} for u in users],
            "groups": [{"id": c.id, "name": c.name} for c in groups]}


@router.get("/groups")
def list_groups(svc: ServiceDep) -> dict[str, Any]:
    return {"groups": [group_json(svc, g.id) for g in svc.identity.list_groups()]}


@router.post("/groups", status_code=201, responses=errors(400))
def create_group(body: GroupIn, svc: ServiceDep) -> dict[str, Any]:
    with identity_errors():
        return group_json(svc, svc.identity.create_group(body.name, body.description).id)


def _member(body: MemberIn) -> tuple[str, int]:
    if (body.user_id is None) == (body.group_id is None):
        raise HTTPException(400, "give exactly one of user_id and group_id")
    return ("user", body.user_id) if body.user_id is not None else ("group", body.group_id)  # type: ignore[return-value]


@router.post("/groups/{group_id}/members", responses=errors(400, 404))
def add_member(group_id: IdPath, body: MemberIn, svc: ServiceDep) -> dict[str, Any]:
    """Add a user or a nested group; effective on the members' next query."""
    kind, member = _member(body)
    with identity_errors():
        if kind == "user":
            svc.identity.add_user_to_group(group_id, member)
        else:
            svc.identity.add_group_to_group(group_id, member)
        return group_json(svc, group_id)


@router.delete("/groups/{group_id}/members", responses=errors(400, 404))
def remove_member(group_id: IdPath, body: MemberIn, svc: ServiceDep) -> dict[str, Any]:
    kind, member = _member(body)
    with identity_errors():
        svc.identity.group(group_id)
        if kind == "user":
            svc.identity.remove_user_from_group(group_id, member)
        else:
            svc.identity.remove_group_from_group(group_id, member)
        return group_json(svc, group_id)


# API keys --------------------------------------------------------------------------------------

class KeyIn(BaseModel):
    scopes: list[Scope] = Field(min_length=1, max_length=5)
    name: str = Field(default="", max_length=100)
    expires_days: int = Field(default=90, ge=1, le=730)


class LimitsIn(BaseModel):
    """Model gateway limits; null = no limit. ``models`` null allows every model, [] none."""

    rpm: int | None = Field(default=None, ge=1, le=2**62, description="requests per minute")
    tpm: int | None = Field(default=None, ge=1, le=2**62, description="tokens (prompt + max_tokens) per minute")
    tokens_per_month: int | None = Field(default=None, ge=1, le=2**62, description="tokens per calendar month (UTC)")
    models: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(default=None, max_length=200)
    team_id: int | None = Field(default=None, ge=1, le=2**63 - 1, description="the group the usage is attributed to")


class AdminKeyIn(KeyIn):
    user_id: int = Field(ge=1, le=2**63 - 1)
    limits: LimitsIn | None = None


@router.get("/keys")
def list_keys(svc: ServiceDep) -> dict[str, Any]:
    return {"keys": [key_json(k) for k in svc.identity.api_keys.list()]}


@router.post("/keys", status_code=201, responses=errors(400, 404))
def create_key(body: AdminKeyIn, svc: ServiceDep) -> dict[str, Any]:
    """A key for any user, with its model gateway ``limits`` if given; the key itself is in this response only."""
    limits = _limits(body.limits, svc) if body.limits is not None else None
    with identity_errors():
        new = svc.identity.create_api_key(body.user_id, body.scopes, body.expires_days, body.name)
    out = {"key": new.key, **key_json(new.record)}
    if limits is not None:
        svc.gateway_accounting.set_key_limits(new.record.id, limits)
        out["limits"] = limits.as_json()
    return out


def _limits(body: LimitsIn, svc: ServiceDep) -> Limits:
    if body.team_id is not None and svc.identity.tables.group(body.team_id) is None:
        raise HTTPException(400, f"no group with id {body.team_id} (team_id must be a group id)")
    try:
        return clean_limits(body.rpm, body.tpm, body.tokens_per_month, body.models, body.team_id)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def _limits_json(limits: Limits | None, usage: dict[str, Any], **ids: Any) -> dict[str, Any]:
    return {**ids, **(limits or Limits()).as_json(), "limited": limits is not None, "usage": usage}


def _key_ids(public_id: str, svc: ServiceDep) -> tuple[int, int]:
    found = svc.gateway_accounting.key_by_public_id(public_id.strip()[:64])
    if found is None:
        raise HTTPException(404, "no key with this id")
    return found


@router.get("/keys/{public_id}/limits", responses=errors(404))
def get_key_limits(public_id: str, svc: ServiceDep) -> dict[str, Any]:
    """The key's model gateway limits and what counts against them now (last 60 s, this month)."""
    key_id, user_id = _key_ids(public_id, svc)
    acc = svc.gateway_accounting
    return _limits_json(acc.key_limits(key_id), acc.current_usage("key", key_id), public_id=public_id, user_id=user_id)


@router.put("/keys/{public_id}/limits", responses=errors(400, 404))
def put_key_limits(public_id: str, body: LimitsIn, svc: ServiceDep) -> dict[str, Any]:
    """Replace the key's limits (every field null: no limits); effective on its next request."""
    key_id, user_id = _key_ids(public_id, svc)
    acc = svc.gateway_accounting
    limits = acc.set_key_limits(key_id, _limits(body, svc))
    return _limits_json(limits, acc.current_usage("key", key_id), public_id=public_id, user_id=user_id)


@router.get("/users/{user_id}/limits", responses=errors(404))
def get_user_limits(user_id: IdPath, svc: ServiceDep) -> dict[str, Any]:
    """A user's own limits, counted across all its keys and its web sessions."""
    with identity_errors():
        svc.identity.user(user_id)
    acc = svc.gateway_accounting
    return _limits_json(acc.user_limits(user_id), acc.current_usage("user", user_id), user_id=user_id)


@router.put("/users/{user_id}/limits", responses=errors(400, 404))
def put_user_limits(user_id: IdPath, body: LimitsIn, svc: ServiceDep) -> dict[str, Any]:
    with identity_errors():
        svc.identity.user(user_id)
    acc = svc.gateway_accounting
    limits = acc.set_user_limits(user_id, _limits(body, svc))
    return _limits_json(limits, acc.current_usage("user", user_id), user_id=user_id)


@router.delete("/keys/{public_id}", status_code=204, responses=errors(404))
def revoke_key(public_id: str, svc: ServiceDep) -> Response:
    if not svc.identity.revoke_api_key(public_id.strip()[:64]):
        raise HTTPException(404, "no active key with this id")
    return Response(status_code=204)


@me_router.get("/keys")
def my_keys(principal: PrincipalDep, svc: ServiceDep) -> dict[str, Any]:
    return {"keys": [key_json(k) for k in svc.identity.api_keys.list(principal.user.id)]}


@me_router.post("/keys", status_code=201, responses=errors(400))
def create_my_key(body: KeyIn, principal: PrincipalDep, svc: ServiceDep) -> dict[str, Any]:
    """A key for yourself, with at most the scopes your role allows; the key is in this response only."""
    if not set(body.scopes) <= principal.scopes:
        raise HTTPException(403, "a key cannot have more permissions than you have")
    with identity_errors():
        new = svc.identity.create_api_key(principal.user.id, body.scopes, body.expires_days, body.name)
        return {"key": new.key, **key_json(new.record)}


@me_router.delete("/keys/{public_id}", status_code=204, responses=errors(404))
def revoke_my_key(public_id: str, principal: PrincipalDep, svc: ServiceDep) -> Response:
    mine = {k.public_id for k in svc.identity.api_keys.list(principal.user.id) if k.revoked_at is None}
    if public_id not in mine or not svc.identity.revoke_api_key(public_id):
        raise HTTPException(404, "no active key of yours with this id")
    return Response(status_code=204)
