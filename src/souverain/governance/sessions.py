"""Browser sessions: random ids, stored hashed, with an absolute lifetime and an idle timeout.

- A session id is ``secrets.token_urlsafe(32)`` (256 bits). The database keeps only its SHA-256:
  someone who reads the database cannot sign in with what they find there. (A plain hash is
  enough for a 256-bit random value; no salt or slow hash is needed.)
- Sign-in always makes a new id and deletes the one the browser presented before (rotation, against
  session fixation); ``rotate`` does the same later (e.g. after a role change) and keeps the original
  absolute expiry, so rotating never extends a session's life.
- A session ends at ``expires_at``, after ``idle`` without use, when its user is disabled (the
  disabling transaction deletes the rows), on sign-out, and on sign-out everywhere (``end_all``).
  A lookup that finds an ended session deletes it. ``last_seen_at`` is written at most once a minute.
- CSRF tokens are derived, not stored: ``HMAC-SHA256(server secret, "csrf:" + session id)``, so they
  change with every rotation and die with the session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from ..index.sqlite_identity import IdentityTables, User

TOUCH_EVERY = dt.timedelta(minutes=1)
MAX_TOKEN_LENGTH = 128


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SessionGrant:
    """A new session: put ``token`` in an HttpOnly, Secure, SameSite cookie; it is never shown again."""

    token: str = field(repr=False)
    user: User
    expires_at: dt.datetime
    csrf_token: str = field(repr=False)


class Sessions:
    def __init__(self, tables: IdentityTables, secret_key: bytes, max_age: dt.timedelta, idle: dt.timedelta,
                 clock: Callable[[], dt.datetime]) -> None:
        self.tables = tables
        self._secret = secret_key
        self.max_age = max_age
        self.idle = idle
        self.clock = clock

    def create(self, user: User, previous_token: str | None = None, expires_at: dt.datetime | None = None) -> SessionGrant:
        if user.disabled:
            raise PermissionError(f"user {user.username!r} is disabled")
        at = self.clock()
        token = secrets.token_urlsafe(32)
        expires = expires_at or at + self.max_age
        replaces = token_hash(previous_token) if previous_token is not None and _plausible(previous_token) else None
        self.tables.insert_session(token_hash(token), user.id, at, expires, replaces=replaces)
        return SessionGrant(token, user, expires, self.csrf_token(token))

    def user_for(self, token: str | None) -> User | None:
        """The signed-in, enabled user of a live session; None for anything else."""
        if not _plausible(token):
            return None
        assert token is not None
        h = token_hash(token)
        rec = self.tables.session(h)
        if rec is None:
            return None
        at = self.clock()
        user = self.tables.user(rec.user_id)
        if at >= rec.expires_at or at - rec.last_seen_at >= self.idle or user is None or user.disabled:
            self.tables.delete_session(h)
            return None
        if at - rec.last_seen_at >= TOUCH_EVERY:
            self.tables.touch_session(h, at)
        return user

    def rotate(self, token: str) -> SessionGrant | None:
        """A new id for a live session (the old one stops working); None when the session is not live."""
        user = self.user_for(token)
        rec = self.tables.session(token_hash(token)) if user else None
        if user is None or rec is None:
            return None
        return self.create(user, previous_token=token, expires_at=rec.expires_at)

    def end(self, token: str | None) -> bool:
        return _plausible(token) and self.tables.delete_session(token_hash(token or ""))

    def end_all(self, user_id: int) -> int:
        return self.tables.delete_user_sessions(user_id)

    def purge(self) -> int:
        """Delete expired and idle sessions (lookups do this lazily; a periodic call keeps the table small)."""
        at = self.clock()
        return self.tables.purge_sessions(at, at - self.idle)

    def csrf_token(self, token: str) -> str:
        return hmac.new(self._secret, b"csrf:" + token.encode("utf-8"), hashlib.sha256).hexdigest()

    def verify_csrf(self, token: str | None, csrf: str | None) -> bool:
        if not _plausible(token) or not isinstance(csrf, str) or len(csrf) != 64:
            return False
        return hmac.compare_digest(self.csrf_token(token or ""), csrf)


def _plausible(token: str | None) -> bool:
    return isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_LENGTH
