"""Users, passwords and sessions: argon2id hashes, no enumeration by timing, rotation, disabling ends sessions."""

from __future__ import annotations

from typing import Literal

import pytest

from souverain.governance import passwords as passwords_mod
from souverain.governance.identity import IdentityError, IdentityService, NotFoundError, UserDisabledError
from souverain.governance.sessions import token_hash

from .conftest import PASSWORD, Clock


def test_password_is_stored_as_argon2id_and_verified(ident: IdentityService) -> None:
    user = ident.create_user("Alice", password=PASSWORD, email="alice@example.org")
    assert user.username == "alice" and user.principal == f"user:{user.id}" and user.has_password
    stored = ident.tables.credentials("alice")
    assert stored is not None and stored[1] is not None
    assert stored[1].startswith("$argon2id$") and PASSWORD not in stored[1]
    assert ident.verify_password("alice", PASSWORD) == user
    assert ident.verify_password("ALICE ", PASSWORD) == user  # usernames are case-insensitive
    assert ident.verify_password("alice", PASSWORD + "!") is None
    assert ident.verify_password("alice", "") is None


def test_password_policy_and_names(ident: IdentityService) -> None:
    with pytest.raises(ValueError, match="at least 12"):
        ident.create_user("bob", password="short")
    with pytest.raises(ValueError, match="at most"):
        ident.create_user("bob", password="x" * 2000)
    with pytest.raises(IdentityError, match="invalid username"):
        ident.create_user("bob smith", password=PASSWORD)
    with pytest.raises(IdentityError, match="invalid role"):
        ident.create_user("bob", role="root", password=PASSWORD)
    ident.create_user("bob", password=PASSWORD)
    with pytest.raises(IdentityError, match="taken"):
        ident.create_user("BOB", password=PASSWORD)


def test_unknown_user_costs_a_full_verification(ident: IdentityService, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user enumeration by timing: unknown, password-less and disabled users each run argon2 once."""
    ident.create_user("alice", password=PASSWORD)
    ident.create_user("oidc-only")  # no local password
    carol = ident.create_user("carol", password=PASSWORD)
    ident.create_user("admin", role="admin", password=PASSWORD)
    ident.disable_user(carol.id)
    calls: list[str | bytes] = []

    class SpyHasher(passwords_mod.PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:  # noqa: A002
            calls.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(ident.passwords, "hasher", SpyHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name in ("nobody", "oidc-only", "carol", "not a valid name!", "alice"):
        calls.clear()
        result = ident.verify_password(name, PASSWORD)
        assert len(calls) == 1, name
        assert (result is not None) == (name == "alice")
    # the dummy hash has the same parameters as real ones
    assert ident.passwords._dummy_hash.split("$")[:4] == ident.tables.credentials("alice")[1].split("$")[:4]  # type: ignore[index]


def test_outdated_hash_is_upgraded_on_sign_in(ident: IdentityService) -> None:
    user = ident.create_user("alice", password=PASSWORD)
    old = passwords_mod.PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(PASSWORD)
    ident.tables.update_user(user.id, password_hash=old)
    assert ident.verify_password("alice", PASSWORD) == user
    new = ident.tables.credentials("alice")[1]  # type: ignore[index]
    assert new != old and not ident.passwords.needs_rehash(new)  # type: ignore[arg-type]


def test_sign_in_rotates_and_sessions_are_stored_hashed(ident: IdentityService) -> None:
    user = ident.create_user("alice", password=PASSWORD)
    assert ident.sign_in("alice", "wrong password!!") is None
    first = ident.sign_in("alice", PASSWORD)
    assert first is not None and len(first.token) >= 43  # 256 bits, url-safe
    assert first.token not in repr(first) and ident.session_user(first.token) == user
    stored = [r[0] for r in ident.store.conn.execute("SELECT token_hash FROM sessions")]
    assert stored == [token_hash(first.token)]
    second = ident.sign_in("alice", PASSWORD, previous_token=first.token)
    assert second is not None and second.token != first.token
    assert ident.session_user(first.token) is None  # the pre-sign-in id is dead (no fixation)
    assert ident.session_user(second.token) == user
    rotated = ident.rotate_session(second.token)
    assert rotated is not None and rotated.expires_at == second.expires_at  # rotation never extends a session
    assert ident.session_user(second.token) is None and ident.session_user(rotated.token) == user
    assert ident.rotate_session(second.token) is None
    for bogus in (None, "", "x" * 10_000, "nope"):
        assert ident.session_user(bogus) is None


def test_session_expiry_and_idle_timeout(ident: IdentityService, clock: Clock) -> None:
    ident.create_user("alice", password=PASSWORD)
    grant = ident.sign_in("alice", PASSWORD)
    assert grant is not None
    for _ in range(15):  # active use keeps it alive up to the absolute limit (8 h)
        clock.advance(minutes=29)
        assert ident.session_user(grant.token) is not None
    clock.advance(minutes=60)
    assert ident.session_user(grant.token) is None  # past 8 h
    idle = ident.sign_in("alice", PASSWORD)
    assert idle is not None
    clock.advance(minutes=31)
    assert ident.session_user(idle.token) is None
    assert ident.store.conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0  # ended ones are deleted
    for _ in range(2):
        ident.sign_in("alice", PASSWORD)
    clock.advance(minutes=31)
    assert ident.sessions.purge() == 2


def test_disabled_user_cannot_sign_in_and_its_sessions_end(ident: IdentityService) -> None:
    ident.create_user("root", role="admin", password=PASSWORD)
    bob = ident.create_user("bob", password=PASSWORD)
    grants = [ident.sign_in("bob", PASSWORD) for _ in range(3)]
    key = ident.create_api_key(bob.id, ["read"])
    assert all(g is not None and ident.session_user(g.token) == bob for g in grants)
    ident.disable_user(bob.id)
    assert all(ident.session_user(g.token) is None for g in grants if g)
    assert ident.tables.count_sessions(bob.id) == 0
    assert ident.sign_in("bob", PASSWORD) is None
    assert ident.authenticate_api_key(key.key) is None
    with pytest.raises(UserDisabledError):
        ident.access_filter_for(bob.id)
    with pytest.raises(UserDisabledError):
        ident.create_session(bob.id)
    ident.enable_user(bob.id)
    assert ident.sign_in("bob", PASSWORD) is not None
    assert ident.authenticate_api_key(key.key) is not None


def test_sign_out_everywhere_and_password_change_end_sessions(ident: IdentityService) -> None:
    bob = ident.create_user("bob", password=PASSWORD)
    a, b = ident.sign_in("bob", PASSWORD), ident.sign_in("bob", PASSWORD)
    assert a and b
    assert ident.sign_out(a.token) and ident.session_user(a.token) is None and ident.session_user(b.token) == bob
    assert ident.end_all_sessions(bob.id) == 1 and ident.session_user(b.token) is None
    c = ident.sign_in("bob", PASSWORD)
    assert c
    ident.set_password(bob.id, PASSWORD + " 2")
    assert ident.session_user(c.token) is None and ident.sign_in("bob", PASSWORD) is None


def test_csrf_token_bound_to_session(ident: IdentityService) -> None:
    ident.create_user("bob", password=PASSWORD)
    a, b = ident.sign_in("bob", PASSWORD), ident.sign_in("bob", PASSWORD)
    assert a and b and a.csrf_token != b.csrf_token
    assert ident.sessions.verify_csrf(a.token, a.csrf_token)
    assert not ident.sessions.verify_csrf(a.token, b.csrf_token)
    assert not ident.sessions.verify_csrf(None, a.csrf_token) and not ident.sessions.verify_csrf(a.token, None)


def test_first_admin_and_last_admin(ident: IdentityService) -> None:
    admin = ident.create_first_admin("root", PASSWORD)
    assert admin.role == "admin"
    with pytest.raises(IdentityError, match="exists already"):
        ident.create_first_admin("root2", PASSWORD)
    with pytest.raises(IdentityError, match="last enabled administrator"):
        ident.disable_user(admin.id)
    with pytest.raises(IdentityError, match="last enabled administrator"):
        ident.set_role(admin.id, "member")
    other = ident.create_user("other", role="admin", password=PASSWORD)
    assert ident.set_role(admin.id, "auditor").role == "auditor"
    with pytest.raises(IdentityError):
        ident.disable_user(other.id)
    with pytest.raises(NotFoundError):
        ident.user(999)


def test_identity_is_issuer_and_subject(ident: IdentityService) -> None:
    alice = ident.create_user("alice", email="a@example.org")
    bob = ident.create_user("bob", email="a@example.org")  # a shared address does not merge accounts
    ident.link_identity(alice.id, "https://idp.example", "sub-1")
    ident.link_identity(alice.id, "https://idp.example", "sub-1")  # idempotent
    assert ident.user_for_identity("https://idp.example", "sub-1") == alice
    assert ident.user_for_identity("https://other.example", "sub-1") is None
    with pytest.raises(IdentityError, match="another user"):
        ident.link_identity(bob.id, "https://idp.example", "sub-1")
    ident.link_identity(bob.id, "https://other.example", "sub-1")
    assert ident.user_for_identity("https://other.example", "sub-1") == bob
