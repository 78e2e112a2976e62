"""FastAPI dependencies: the service object, the authenticated caller, its scopes and access filter.

Authentication (docs/web-api.md, "Authentication"):

- a browser session: the ``souverain_session`` cookie (HttpOnly, SameSite=Lax; set by ``/auth/login``).
  A state-changing request (POST, PUT, PATCH, DELETE) authenticated by the cookie must also carry
  ``X-CSRF-Token`` equal to the session's CSRF token, or it is a 403;
- an API key: ``Authorization: Bearer sv_...``. Keys are never accepted in a URL: a query string that
  carries one is a 400 (the key has leaked into logs already; revoke it).

No valid credentials: 401. What a caller may do is its *scopes*: a session has every scope its role
allows, an API key the intersection of its own scopes and its user's role. ``read`` (search, documents,
pages, files, models, status, jobs), ``ask`` (ask, conversations), ``ingest`` (upload, re-ingest,
delete, cancel jobs), ``admin`` (``/api/v1/admin/*``, role admin only), ``models`` (the OpenAI-compatible
``/v1`` model gateway; admins and members). Auditors read and ask only.

What a caller may *read* is ``AccessDep``: ``IdentityService.access_filter_for(user)``, recomputed on
every request, so a membership or sharing change is effective on the next query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Path, Query, Request

from ..documents import AccessFilter
from ..governance.identity import IdentityError, User
from ..service import Souverain

SESSION_COOKIE = "souverain_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "ask", "ingest", "admin", "models"}),
    "member": frozenset({"read", "ask", "ingest", "models"}),
    "auditor": frozenset({"read", "ask"}),
}
KEY_PARAM_NAMES = frozenset({"api_key", "apikey", "key", "access_token", "token", "authorization"})
UNAUTHENTICATED = "not signed in: sign in, or send an API key as 'Authorization: Bearer sv_...'"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user: User
    scopes: frozenset[str]
    via: Literal["session", "key"]
    session_token: str | None = field(default=None, repr=False)

    @property
    def principal(self) -> str:
        return f"user:{self.user.id}"

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin" and "admin" in self.scopes


def get_service(request: Request) -> Souverain:
    return request.app.state.souverain


def _refuse_keys_in_url(request: Request) -> None:
    for name, value in request.query_params.multi_items():
        if name.lower() in KEY_PARAM_NAMES or value.strip().lower().startswith("sv_"):
            raise HTTPException(400, "credentials are never accepted in a URL; send 'Authorization: Bearer <key>'")


def get_principal(request: Request) -> Principal:
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    _refuse_keys_in_url(request)
    svc: Souverain = request.app.state.souverain
    auth = request.headers.get("authorization")
    principal: Principal | None = None
    if auth is not None:
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise HTTPException(401, UNAUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
        grant = svc.identity.authenticate_api_key(key.strip())
        if grant is not None:
            principal = Principal(grant.user, frozenset(grant.scopes) & ROLE_SCOPES.get(grant.user.role, frozenset()), "key")
    else:
        token = request.cookies.get(SESSION_COOKIE)
        user = svc.identity.session_user(token) if token else None
        if user is not None:
            if request.method not in SAFE_METHODS and not svc.identity.sessions.verify_csrf(
                    token, request.headers.get(CSRF_HEADER)):
                raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
            principal = Principal(user, ROLE_SCOPES.get(user.role, frozenset()), "session", token)
    if principal is None:
        raise HTTPException(401, UNAUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(scope: str) -> Callable[[Principal], Principal]:
    """A dependency that admits callers holding ``scope`` (403 otherwise)."""

    def check(principal: PrincipalDep) -> Principal:
        if scope not in principal.scopes or (scope == "admin" and principal.user.role != "admin"):
            raise HTTPException(403, f"this needs the {scope!r} permission")
        return principal

    check.__name__ = f"require_{scope}"
    return check


READ = Depends(require("read"))
ASK = Depends(require("ask"))
INGEST = Depends(require("ingest"))
ADMIN = Depends(require("admin"))


def get_access(principal: PrincipalDep, request: Request) -> AccessFilter:
    try:
        return request.app.state.souverain.identity.access_filter_for(principal.user.id)
    except IdentityError:  # disabled or deleted meanwhile
        raise HTTPException(401, UNAUTHENTICATED) from None


def get_owner(principal: PrincipalDep) -> str:
    """Who owns conversations and jobs: the caller's ``user:<id>`` principal."""
    return principal.principal


ServiceDep = Annotated[Souverain, Depends(get_service)]
AccessDep = Annotated[AccessFilter, Depends(get_access)]
OwnerDep = Annotated[str, Depends(get_owner)]

# Ids and offsets end up as SQLite INTEGERs (64-bit): anything outside that range is a 422, not an OverflowError.
SQLITE_INT_MAX = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=SQLITE_INT_MAX)]
PagePath = Annotated[int, Path(ge=1, le=SQLITE_INT_MAX, description="page number, from 1")]
OffsetQuery = Annotated[int, Query(ge=0, le=SQLITE_INT_MAX)]
