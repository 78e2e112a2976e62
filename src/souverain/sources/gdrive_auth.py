"""Google Drive connector settings, service-account tokens and one authorised-request helper.

Authentication is a service account with domain-wide delegation (the documented server-to-server
OAuth flow): for each impersonated user (``sub``) the connector signs an RS256 JWT with the key's
``private_key`` (claims ``iss`` = ``client_email``, ``sub``, ``scope``, ``aud`` = ``token_uri``,
``iat``, ``exp`` = one hour later) and POSTs it to ``token_uri`` as
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``. Access tokens are cached per
(user, scope) until one minute before ``expires_in`` runs out; a ``401`` from an API drops the
cached token and retries once with a new one.

Throttling: ``ctx.http`` already retries ``429``/``503`` honouring ``Retry-After``. Drive also
answers quota errors with ``403`` and reason ``rateLimitExceeded``/``userRateLimitExceeded``
(and the Directory API with ``quotaExceeded``); those are retried here with truncated exponential
backoff, as the Drive usage-limits guide asks. Nothing here logs a token, the key or the assertion.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .base import ConnectorContext, SourceError
from .secrets import SecretRef

log = logging.getLogger(__name__)

DRIVE_SCOPE = "https://www.googleapis.com/auth/drive.readonly"
DIRECTORY_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.member.readonly"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})


class GoogleDriveSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_account_key: SecretRef = Field(description="Reference ('env:NAME' or 'file:/path') to the service account's "
                                           "JSON key (client_email, private_key, token_uri); domain-wide delegation must "
                                           "grant drive.readonly and admin.directory.group.member.readonly")
    subject: str = Field(description="Email of the Workspace user impersonated for shared drives and the Directory API "
                         "(an administrator who is a member of the shared drives)")
    shared_drives: list[str] = Field(default_factory=list, description="Shared drive ids to sync")
    my_drive_users: list[str] = Field(default_factory=list, description="Emails whose My Drive (files they own) is synced")
    folders: list[str] = Field(default_factory=list, description="Optional folder ids: only their descendants are synced")
    anyone_with_link_public: bool = Field(True, description="Map 'anyone with the link' permissions to 'public'")
    drive_url: str = Field("https://www.googleapis.com", description="Drive API base URL")
    directory_url: str = Field("https://admin.googleapis.com", description="Admin SDK Directory API base URL")
    page_size: int = Field(100, ge=1, le=1000, description="Items per files.list/changes.list page")

    @field_validator("subject")
    @classmethod
    def _email(cls, v: str) -> str:
        v = v.strip().lower()
        if "@" not in v:
            raise ValueError("subject must be a user's email address")
        return v

    @field_validator("my_drive_users")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        out = [e.strip().lower() for e in v]
        if any("@" not in e for e in out):
            raise ValueError("my_drive_users must be email addresses")
        return list(dict.fromkeys(out))

    @field_validator("shared_drives", "folders")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(x.strip() for x in v if x.strip()))

    @field_validator("drive_url", "directory_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _scope(self) -> GoogleDriveSettings:
        if not self.shared_drives and not self.my_drive_users:
            raise ValueError("give at least one of shared_drives or my_drive_users")
        return self


@dataclass(frozen=True)
class ServiceAccount:
    client_email: str
    private_key: str
    token_uri: str
    private_key_id: str = ""

    def __repr__(self) -> str:  # never show the key
        return f"ServiceAccount({self.client_email!r})"

    @classmethod
    def from_json(cls, text: str) -> ServiceAccount:
        try:
            data = json.loads(text)
        except ValueError:
            raise SourceError("auth_failed", "the service account key is not JSON (expected the key file "
                              "downloaded from the Google Cloud console)") from None
        if not isinstance(data, dict):
            raise SourceError("auth_failed", "the service account key is not a JSON object")
        missing = [k for k in ("client_email", "private_key", "token_uri") if not isinstance(data.get(k), str)]
        if missing:
            raise SourceError("auth_failed", f"the service account key lacks {', '.join(missing)}")
        return cls(data["client_email"], data["private_key"], data["token_uri"], str(data.get("private_key_id") or ""))


def error_reasons(resp: httpx.Response) -> tuple[str, str, set[str]]:
    """(message, status text, {reason, location...}) of a Google JSON error body; empty when it has none."""
    try:
        body = resp.json()
    except ValueError:
        return "", "", set()
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, str):  # OAuth token endpoint: {"error": "invalid_grant", "error_description": ...}
        return str(body.get("error_description") or err), err, {err}
    if not isinstance(err, dict):
        return "", "", set()
    tags: set[str] = set()
    for e in err.get("errors") or []:
        if isinstance(e, dict):
            tags.update(str(e[k]) for k in ("reason", "location") if e.get(k))
    return str(err.get("message") or ""), str(err.get("status") or ""), tags


class GoogleApi:
    """Authorised requests for one connector: tokens per impersonated user, 403 rate-limit retries."""

    def __init__(self, ctx: ConnectorContext, key_ref: str, *, rate_limit_attempts: int = 5) -> None:
        self.ctx = ctx
        self.key_ref = key_ref
        self.rate_limit_attempts = rate_limit_attempts
        self._account: ServiceAccount | None = None
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    @property
    def account(self) -> ServiceAccount:
        if self._account is None:
            try:
                text = self.ctx.secrets.resolve(self.key_ref).get_secret_value()
            except ValueError as exc:  # SecretError: says which variable/file, never the value
                raise SourceError("missing_credentials", str(exc)) from None
            self._account = ServiceAccount.from_json(text)
        return self._account

    def _assertion(self, subject: str, scope: str) -> str:
        acc = self.account
        now = int(time.time())
        claims = {"iss": acc.client_email, "sub": subject, "scope": scope, "aud": acc.token_uri,
                  "iat": now, "exp": now + 3600}
        headers = {"kid": acc.private_key_id} if acc.private_key_id else None
        try:
            return jwt.encode(claims, acc.private_key, algorithm="RS256", headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError):
            raise SourceError("auth_failed", "the service account's private_key is not a usable RSA key") from None

    def token(self, subject: str, scope: str = DRIVE_SCOPE) -> str:
        with self._lock:
            cached = self._tokens.get((subject, scope))
        if cached and cached[1] > time.time():
            return cached[0]
        assertion = self._assertion(subject, scope)
        try:
            resp = self.ctx.http.post(self.account.token_uri, data={"grant_type": JWT_GRANT, "assertion": assertion})
        except httpx.HTTPError as exc:
            raise SourceError("unreachable", f"cannot reach the Google token endpoint: {type(exc).__name__}") from None
        if resp.status_code != 200:
            message, code, _ = error_reasons(resp)
            raise SourceError("auth_failed", f"Google refused a token for {subject} as {self.account.client_email} "
                              f"(HTTP {resp.status_code} {code}: {message or 'no details'}); check the key and that "
                              "domain-wide delegation grants the connector's scopes")
        try:
            body = resp.json()
            token, ttl = str(body["access_token"]), float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise SourceError("auth_failed", "the token endpoint answered without an access_token") from None
        with self._lock:
            self._tokens[(subject, scope)] = (token, time.time() + max(0.0, ttl - 60))
        return token

    def _backoff(self, attempt: int) -> None:
        p = self.ctx.http.policy
        delay = min(p.max_delay_s, p.base_delay_s * 2 ** attempt) * (0.5 + random.random() / 2)
        stats = self.ctx.http.stats
        with stats.lock:
            stats.throttled += 1
            stats.retries += 1
            stats.waited_s += delay
        end = time.monotonic() + delay
        while not self.ctx.http.cancelled() and time.monotonic() < end:
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))

    def request(self, method: str, url: str, *, subject: str, scope: str = DRIVE_SCOPE,
                params: dict[str, Any] | None = None) -> httpx.Response:
        """Send with a bearer token for ``subject``; the final response, whatever its status."""
        renewed = False
        attempt = 0
        while True:
            headers = {"Authorization": f"Bearer {self.token(subject, scope)}"}
            try:
                resp = self.ctx.http.request(method, url, params=params, headers=headers)
            except httpx.HTTPError as exc:
                raise SourceError("unreachable", f"{method} {httpx.URL(url).path}: {type(exc).__name__}") from None
            if resp.status_code == 401 and not renewed:
                renewed = True
                with self._lock:
                    self._tokens.pop((subject, scope), None)
                continue
            if resp.status_code == 403 and attempt < self.rate_limit_attempts - 1:
                _, _, tags = error_reasons(resp)
                if tags & RATE_LIMIT_REASONS:
                    log.info("%s %s: 403 %s; backing off", method, httpx.URL(url).path, sorted(tags & RATE_LIMIT_REASONS))
                    self._backoff(attempt)
                    attempt += 1
                    continue
            return resp
