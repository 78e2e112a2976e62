"""API keys: recognisable format with checksum, keyed-hash storage, scopes, expiry, revocation, constant-time compare."""

from __future__ import annotations

import hmac
import re

import pytest

from souverain.governance import api_keys
from souverain.governance.identity import IdentityService

from .conftest import SECRET, Clock

SCANNER_RE = re.compile(r"\bsv_[a-z2-7]{8}_[a-z2-7]{40}_[a-z2-7]{7}\b")


def test_format_and_checksum() -> None:
    keys = {api_keys.generate_key()[0] for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert SCANNER_RE.fullmatch(key) and api_keys.parse_key(key) is not None
        body, check = key.rsplit("_", 1)
        assert api_keys.checksum(body) == check
        # any single changed character in the secret is caught by the checksum, without a database read
        i = len("sv_12345678_") + 5
        flipped = key[:i] + ("a" if key[i] != "a" else "b") + key[i + 1:]
        assert api_keys.parse_key(flipped) is None
    for bad in ("", "sv_", "sk_" + next(iter(keys))[3:], next(iter(keys)).upper(), next(iter(keys)) + "a", "x" * 5000):
        assert api_keys.parse_key(bad) is None
    assert "secret" not in repr(api_keys.parse_key(next(iter(keys))))


def test_key_is_shown_once_and_stored_as_hmac(ident: IdentityService) -> None:
    bob = ident.create_user("bob")
    new = ident.create_api_key(bob.id, ["ask", "read"], expires_days=90, name="laptop")
    assert new.key not in repr(new)
    row = ident.store.conn.execute("SELECT * FROM api_keys").fetchone()
    assert new.key not in repr(row) and api_keys.parse_key(new.key).secret not in repr(row)  # type: ignore[union-attr]
    assert row[4] == hmac.new(SECRET, new.key.encode(), "sha256").hexdigest()
    grant = ident.authenticate_api_key(new.key)
    assert grant is not None
    user, scopes = grant
    assert user == bob and scopes == {"ask", "read"}
    # another server secret: the stored hash no longer matches
    other = IdentityService(ident.store, b"z" * 48)
    assert other.authenticate_api_key(new.key) is None


def test_scopes_are_checked(ident: IdentityService) -> None:
    bob = ident.create_user("bob")
    with pytest.raises(ValueError, match="unknown scope"):
        ident.create_api_key(bob.id, ["read", "superuser"])
    with pytest.raises(ValueError, match="at least one scope"):
        ident.create_api_key(bob.id, [])
    with pytest.raises(ValueError, match="expires_days"):
        ident.create_api_key(bob.id, ["read"], expires_days=0)
    grant = ident.authenticate_api_key(ident.create_api_key(bob.id, ["INGEST", "admin"]).key)
    assert grant is not None and grant.scopes == frozenset({"ingest", "admin"})


def test_expiry_revocation_and_last_used(ident: IdentityService, clock: Clock) -> None:
    bob = ident.create_user("bob")
    new = ident.create_api_key(bob.id, ["read"], expires_days=2)
    assert ident.api_keys.list(bob.id)[0].last_used_at is None
    assert ident.authenticate_api_key(new.key) is not None
    assert ident.api_keys.list(bob.id)[0].last_used_at == clock.now
    clock.advance(days=2)
    assert ident.authenticate_api_key(new.key) is None  # expired
    other = ident.create_api_key(bob.id, ["read"])
    assert ident.revoke_api_key(other.record.public_id)
    assert not ident.revoke_api_key(other.record.public_id)  # already revoked
    assert ident.authenticate_api_key(other.key) is None
    leaked = ident.create_api_key(bob.id, ["read"])
    assert ident.revoke_api_key(leaked.key)  # revocable by the whole key, as a scanner reports it
    assert ident.authenticate_api_key(leaked.key) is None
    assert {k.public_id for k in ident.api_keys.list() if k.revoked_at} == {other.record.public_id, leaked.record.public_id}


def test_malformed_and_unknown_keys(ident: IdentityService) -> None:
    bob = ident.create_user("bob")
    real = ident.create_api_key(bob.id, ["read"]).key
    unknown, _ = api_keys.generate_key()
    forged_body = real.rsplit("_", 2)[0] + "_" + "a" * 40  # right public id, wrong secret, valid checksum
    forged = forged_body + "_" + api_keys.checksum(forged_body)
    for key in (None, "", "Bearer " + real, real + " ", unknown, forged, 42):
        assert ident.authenticate_api_key(key) is None  # type: ignore[arg-type]


def test_comparison_is_constant_time(ident: IdentityService, monkeypatch: pytest.MonkeyPatch) -> None:
    bob = ident.create_user("bob")
    real = ident.create_api_key(bob.id, ["read"]).key
    calls: list[tuple[str, str]] = []
    original = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert ident.authenticate_api_key(real) is not None
    stored = ident.api_keys.tables.key_with_hash(real.split("_")[1])[1]  # type: ignore[index]
    assert any(b == stored for _, b in calls)
    calls.clear()
    assert ident.authenticate_api_key(api_keys.generate_key()[0]) is None  # unknown id: still one HMAC comparison
    assert len([c for c in calls if len(c[0]) == 64]) == 1
