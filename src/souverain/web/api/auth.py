"""Sign-in: local passwords, first-run setup, OpenID Connect, sign-out (docs/web-api.md, "Authentication").

- ``POST /auth/login`` checks the password and opens a new session (any session the browser presented
  ends: rotation against fixation). The cookie is HttpOnly, SameSite=Lax, Path=/, and Secure when the
  request came over https. The response carries the CSRF token the browser sends back as ``X-CSRF-Token``.
- Failed password sign-ins are throttled per username and per client address (governance/throttle.py):
  past the limit the answer is 429 with ``Retry-After``, decided before any password is verified and the
  same for unknown usernames. ``POST /auth/setup`` counts its refusals per address.
- ``GET /auth/setup`` says whether the instance has no user yet; ``POST /auth/setup`` then creates the
  first administrator and signs it in (409 once any user exists).
- OIDC (when ``SOUVERAIN_OIDC_ISSUER`` is set): ``/auth/oidc/login`` keeps the login state (PKCE verifier,
  nonce) server-side under a random, short-lived cookie and redirects to the provider; the callback takes
  that state once, verifies the sign-in, links ``(issuer, subject)`` to a user (a new member on first
  sign-in), maps group claims to groups named ``oidc:<name>`` and opens a session.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from ...governance.external_ids import principals_from_claims
from ...governance.identity import IdentityError, SessionGrant, User
from ...governance.oidc import LoginState, OIDCClient, OIDCError, OIDCProvider
from ...governance.throttle import LoginThrottle
from ...service import Souverain
from ..deps import SESSION_COOKIE, PrincipalDep, ServiceDep
from .errors import AUTH_ERRORS, errors

log = logging.getLogger(__name__)
router = APIRouter(prefix="/auth", tags=["auth"])
OIDC_COOKIE = "souverain_oidc"
OIDC_STATE_TTL_S = 600
OIDC_MAX_PENDING = 10_000
_lazy_lock = threading.Lock()


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str


class SessionOut(BaseModel):
    user: UserOut
    csrf_token: str


class SetupOut(BaseModel):
    needed: bool


def user_out(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role}


def set_session_cookie(request: Request, response: Response, grant: SessionGrant) -> None:
    max_age = max(int(grant.expires_at.timestamp() - time.time()), 0)
    response.set_cookie(SESSION_COOKIE, grant.token, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


def _session_response(request: Request, grant: SessionGrant) -> JSONResponse:
    response = JSONResponse({"user": user_out(grant.user), "csrf_token": grant.csrf_token},
                            headers={"Cache-Control": "no-store"})
    set_session_cookie(request, response, grant)
    return response


def _signed_out(request: Request) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return response


def login_throttle(svc: Souverain) -> LoginThrottle:
    """The service's sign-in failure counters (one per service, made on first use)."""
    throttle = svc.__dict__.get("_login_throttle")
    if throttle is None:
        with _lazy_lock:
            throttle = svc.__dict__.setdefault("_login_throttle", LoginThrottle())
    return throttle


def _client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _refuse_if_throttled(throttle: LoginThrottle, username: str | None, address: str | None) -> None:
    wait = throttle.check(username, address)
    if wait:
        raise HTTPException(429, f"too many failed sign-in attempts; try again in {wait} seconds",
                            headers={"Retry-After": str(wait)})


@router.post("/login", response_model=SessionOut, responses=errors(400, 401, 429))
def login(body: LoginIn, request: Request, svc: ServiceDep) -> Response:
    """Sign in with a local password; sets the session cookie and returns the CSRF token."""
    throttle, address = login_throttle(svc), _client_address(request)
    _refuse_if_throttled(throttle, body.username, address)  # before any password hash is verified
    grant = svc.identity.sign_in(body.username, body.password, request.cookies.get(SESSION_COOKIE))
    if grant is None:
        throttle.failure(body.username, address)
        raise HTTPException(401, "wrong username or password, or the account is disabled")
    throttle.success(body.username)
    return _session_response(request, grant)


@router.post("/logout", status_code=204, responses=AUTH_ERRORS)
def logout(request: Request, principal: PrincipalDep, svc: ServiceDep) -> Response:
    """End this session (with an API key: nothing to end; revoke keys under /api/v1/me/keys)."""
    if principal.session_token:
        svc.identity.sign_out(principal.session_token)
    return _signed_out(request)


@router.post("/logout-all", status_code=204, responses=AUTH_ERRORS)
def logout_all(request: Request, principal: PrincipalDep, svc: ServiceDep) -> Response:
    """End every session of the signed-in user, everywhere."""
    svc.identity.end_all_sessions(principal.user.id)
    return _signed_out(request)


@router.get("/me", response_model=SessionOut, responses=AUTH_ERRORS)
def me(principal: PrincipalDep, svc: ServiceDep) -> dict[str, Any]:
    """The signed-in user and the session's CSRF token (empty for an API key)."""
    csrf = svc.identity.sessions.csrf_token(principal.session_token) if principal.session_token else ""
    return {"user": user_out(principal.user), "csrf_token": csrf}


@router.get("/setup", response_model=SetupOut)
def setup_needed(svc: ServiceDep) -> dict[str, bool]:
    """Whether the instance still needs its first administrator (no user exists)."""
    return {"needed": not svc.identity.list_users()}


_setup_lock = threading.Lock()


@router.post("/setup", response_model=SessionOut, responses=errors(400, 409, 429))
def setup(body: LoginIn, request: Request, svc: ServiceDep) -> Response:
    """Create the first administrator and sign it in; refused once any user exists."""
    throttle, address = login_throttle(svc), _client_address(request)
    _refuse_if_throttled(throttle, None, address)
    with _setup_lock:
        if svc.identity.list_users():
            throttle.failure(None, address)
            raise HTTPException(409, "the instance is set up already; sign in")
        try:
            user = svc.identity.create_first_admin(body.username, body.password)
        except IdentityError as exc:
            throttle.failure(None, address)
            if svc.identity.list_users():
                raise HTTPException(409, "the instance is set up already; sign in") from None
            raise HTTPException(400, str(exc)) from None
    return _session_response(request, svc.identity.create_session(user.id, request.cookies.get(SESSION_COOKIE)))


# OpenID Connect ------------------------------------------------------------------------------

class _PendingLogins:
    """Login states between the redirect and the callback, server-side, each taken at most once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, tuple[float, LoginState]] = {}

    def put(self, state: LoginState) -> str:
        key = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._states = {k: v for k, v in self._states.items() if now - v[0] < OIDC_STATE_TTL_S}
            while len(self._states) >= OIDC_MAX_PENDING:  # unauthenticated callers must not grow this without bound
                del self._states[next(iter(self._states))]  # insertion order: the oldest first
            self._states[key] = (now, state)
        return key

    def take(self, key: str | None) -> LoginState | None:
        if not key:
            return None
        with self._lock:
            found = self._states.pop(key, None)
        if found is None or time.time() - found[0] >= OIDC_STATE_TTL_S:
            return None
        return found[1]


def oidc_client(svc: Souverain) -> OIDCClient | None:
    s = svc.settings
    if not s.oidc_issuer:
        return None
    client = svc.__dict__.get("_oidc_client")
    if client is None:
        if not s.oidc_client_id or s.oidc_client_secret is None or not s.oidc_redirect_uri:
            raise HTTPException(404, "OpenID Connect is not fully configured")
        with _lazy_lock:  # two first requests at once must not each make a store, losing a pending login
            client = svc.__dict__.get("_oidc_client")
            if client is None:
                client = OIDCClient(OIDCProvider(issuer=s.oidc_issuer, client_id=s.oidc_client_id,
                                                 client_secret=s.oidc_client_secret, redirect_uri=s.oidc_redirect_uri,
                                                 group_claim=s.oidc_group_claim or "groups"))
                svc.__dict__["_oidc_pending"] = _PendingLogins()
                svc.__dict__["_oidc_client"] = client
    return client


@router.get("/oidc/login", status_code=302, response_class=RedirectResponse, responses=errors(404, 502))
def oidc_login(request: Request, svc: ServiceDep) -> Response:
    """Redirect to the OpenID Provider (404 when OIDC is not configured)."""
    client = oidc_client(svc)
    if client is None:
        raise HTTPException(404, "OpenID Connect sign-in is not configured")
    try:
        url, state = client.begin_login()
    except OIDCError as exc:
        log.error("OIDC sign-in could not start: %s", exc)
        raise HTTPException(502, "the identity provider is unreachable or misconfigured") from None
    key = svc.__dict__["_oidc_pending"].put(state)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(OIDC_COOKIE, key, max_age=OIDC_STATE_TTL_S, path="/auth/oidc", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


_oidc_link_lock = threading.Lock()


def _usable_email(email: str | None) -> str:
    """The provider's e-mail when the user store accepts it, else none (it is an attribute, never a key)."""
    email = (email or "").strip()
    return email if email and len(email) <= 254 and "@" in email and not any(c.isspace() for c in email) else ""


def _oidc_user(svc: Souverain, issuer: str, subject: str, email: str | None, name: str | None) -> User:
    ident = svc.identity
    mail = _usable_email(email)
    # lookup, creation and linking as one step: two callbacks of a first sign-in must not make two accounts
    with _oidc_link_lock:
        user = ident.user_for_identity(issuer, subject)
        if user is not None:
            if mail and mail != user.email:  # the provider's address changed: keep the attribute current
                user = ident.update_profile(user.id, email=mail)
            return user
        base = "".join(c for c in (mail or name or "user").split("@")[0].lower() if c.isalnum() or c in "._-")[:40]
        if not base or not base[0].isalnum():
            base = "u" + base
        for attempt in range(20):
            candidate = base if attempt == 0 else f"{base}-{secrets.token_hex(3)}"
            try:
                user = ident.create_user(candidate, display_name=name or "", email=mail)
                break
            except IdentityError:
                continue
        else:
            raise HTTPException(500, "could not create an account for this sign-in")
        ident.link_identity(user.id, issuer, subject)
        return user


def _sync_groups(svc: Souverain, user: User, names: tuple[str, ...]) -> None:
    ident = svc.identity
    wanted: set[int] = set()
    for raw in names:
        try:
            name = f"oidc:{raw}".lower()
            group = ident.find_group(name) or ident.create_group(name, "from the identity provider's group claim")
        except IdentityError:
            continue
        wanted.add(group.id)
        ident.add_user_to_group(group.id, user.id)
    for group in ident.list_groups():  # drop memberships the provider no longer asserts
        if group.name.startswith("oidc:") and group.id not in wanted:
            ident.remove_user_from_group(group.id, user.id)


@router.get("/oidc/callback", status_code=302, response_class=RedirectResponse, responses=errors(400, 401, 404))
def oidc_callback(request: Request, svc: ServiceDep) -> Response:
    """The provider's redirect back: verify, link the identity, open a session, go to /."""
    client = oidc_client(svc)
    if client is None:
        raise HTTPException(404, "OpenID Connect sign-in is not configured")
    state = svc.__dict__["_oidc_pending"].take(request.cookies.get(OIDC_COOKIE))
    if state is None:
        raise HTTPException(400, "this sign-in is unknown or expired; start again")
    try:
        identity = client.complete_login(dict(request.query_params), state)
    except OIDCError as exc:
        log.warning("OIDC sign-in refused: %s", exc)
        raise HTTPException(401, f"sign-in refused ({exc.reason})") from None
    user = _oidc_user(svc, identity.issuer, identity.subject, identity.email, identity.name)
    if user.disabled:
        raise HTTPException(401, "this account is disabled")
    if not identity.groups_overage:
        _sync_groups(svc, user, identity.groups)
    namespace = svc.settings.oidc_external_namespace
    if namespace:
        svc.identity.sync_external_principals(user.id, namespace, principals_from_claims(namespace, identity.claims))
    grant = svc.identity.create_session(user.id, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=302)
    set_session_cookie(request, response, grant)
    response.delete_cookie(OIDC_COOKIE, path="/auth/oidc")
    return response
