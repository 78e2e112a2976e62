"""API key format: recognisable, checksummed, stored only as a keyed hash.

A key reads ``sv_<public id>_<secret>_<checksum>``, all lowercase RFC 4648 base32 (``a-z2-7``):

- ``sv_`` lets people and secret scanners recognise a Souverain key;
- the public id (8 chars, 40 bits) names the key in listings, logs and revocation, and is the
  lookup key in the database; it grants nothing;
- the secret (40 chars, 200 bits from ``secrets``);
- the checksum (7 chars): CRC32 of ``sv_<public id>_<secret>``, so a scanner can tell a real leaked key
  from a look-alike without asking the server, and a mistyped key is refused without a database read.

Scanner pattern: ``\\bsv_[a-z2-7]{8}_[a-z2-7]{40}_[a-z2-7]{7}\\b``.

The server stores ``HMAC-SHA256(server secret, whole key)``, never the key itself: the key is shown
once at creation. Verification compares HMACs with ``hmac.compare_digest``. Keys are accepted in
the ``Authorization: Bearer`` header only, never in a URL (that is the web layer's rule).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from ..index.sqlite_identity import ApiKeyRecord, IdentityTables, User

PREFIX = "sv"
SCOPES = ("read", "ask", "ingest", "admin", "models")  # models: the OpenAI-compatible /v1 gateway
KEY_RE = re.compile(r"sv_([a-z2-7]{8})_([a-z2-7]{40})_([a-z2-7]{7})")
MAX_KEY_LENGTH = 64  # anything longer is refused before the regex


@dataclass(frozen=True)
class ParsedKey:
    public_id: str
    secret: str = ""

    def __repr__(self) -> str:  # the secret never reaches a log
        return f"ParsedKey(public_id={self.public_id!r})"


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def checksum(body: str) -> str:
    crc = zlib.crc32(body.encode("ascii")) & 0xFFFFFFFF
    return _b32(crc.to_bytes(4, "big") + b"\0")[:7]  # 32 bits -> 7 base32 chars (35 bits, last 3 zero)


def generate_key() -> tuple[str, str]:
    """(full key, public id)."""
    public_id = _b32(secrets.token_bytes(5))
    secret = _b32(secrets.token_bytes(25))
    body = f"{PREFIX}_{public_id}_{secret}"
    return f"{body}_{checksum(body)}", public_id


def parse_key(key: str) -> ParsedKey | None:
    """The key's parts when it is well formed and its checksum matches; otherwise None."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH:
        return None
    m = KEY_RE.fullmatch(key)
    if m is None:
        return None
    public_id, secret, check = m.groups()
    if not hmac.compare_digest(checksum(f"{PREFIX}_{public_id}_{secret}"), check):
        return None
    return ParsedKey(public_id, secret)


def key_hash(server_secret: bytes, key: str) -> str:
    return hmac.new(server_secret, key.encode("ascii"), hashlib.sha256).hexdigest()


def normalise_scopes(scopes: list[str] | tuple[str, ...] | set[str] | frozenset[str]) -> frozenset[str]:
    clean = frozenset(s.strip().lower() for s in scopes)
    unknown = clean - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s) {sorted(unknown)}: expected some of {', '.join(SCOPES)}")
    if not clean:
        raise ValueError(f"an API key needs at least one scope ({', '.join(SCOPES)})")
    return clean


# the service -------------------------------------------------------------------------------------

MAX_EXPIRY_DAYS = 730
TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class NewApiKey:
    """A freshly created key: ``key`` is shown to its owner once and stored nowhere."""

    key: str = field(repr=False)
    record: ApiKeyRecord


class KeyGrant(NamedTuple):
    user: User
    scopes: frozenset[str]


class ApiKeys:
    def __init__(self, tables: IdentityTables, secret_key: bytes, clock: Callable[[], dt.datetime]) -> None:
        self.tables = tables
        self._secret = secret_key
        self.clock = clock
        self._dummy_hash = key_hash(secret_key, generate_key()[0])

    def create(self, user: User, scopes: list[str] | tuple[str, ...] | set[str] | frozenset[str],
               expires_days: int = 90, name: str = "") -> NewApiKey:
        clean = normalise_scopes(scopes)
        if not 1 <= expires_days <= MAX_EXPIRY_DAYS:
            raise ValueError(f"expires_days must be between 1 and {MAX_EXPIRY_DAYS}")
        if user.disabled:
            raise PermissionError(f"user {user.username!r} is disabled")
        at = self.clock()
        key, public_id = generate_key()
        self.tables.insert_key(public_id, user.id, name.strip()[:100], key_hash(self._secret, key), clean, at,
                               at + dt.timedelta(days=expires_days))
        found = self.tables.key_with_hash(public_id)
        assert found is not None
        return NewApiKey(key, found[0])

    def authenticate(self, key: str | None) -> KeyGrant | None:
        """The key's user and scopes; None when malformed, unknown, revoked, expired, or its user is disabled."""
        parsed = parse_key(key) if isinstance(key, str) else None
        if parsed is None:
            return None
        assert key is not None
        found = self.tables.key_with_hash(parsed.public_id)
        stored = found[1] if found else self._dummy_hash
        if not hmac.compare_digest(key_hash(self._secret, key), stored) or found is None:
            return None
        rec = found[0]
        at = self.clock()
        if rec.revoked_at is not None or at >= rec.expires_at:
            return None
        user = self.tables.user(rec.user_id)
        if user is None or user.disabled:
            return None
        if rec.last_used_at is None or at - rec.last_used_at >= TOUCH_EVERY:
            self.tables.touch_key(rec.id, at)
        return KeyGrant(user, rec.scopes)

    def revoke(self, key_or_public_id: str) -> bool:
        """Revoke by public id (or by the whole key, e.g. one reported as leaked). False when unknown or revoked already."""
        parsed = parse_key(key_or_public_id)
        public_id = parsed.public_id if parsed else key_or_public_id.strip()
        return self.tables.revoke_key(public_id, self.clock())

    def list(self, user_id: int | None = None) -> list[ApiKeyRecord]:
        return self.tables.keys(user_id)
