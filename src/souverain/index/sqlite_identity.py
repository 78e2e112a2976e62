"""SQL for users, groups, identities, sessions, API keys and document sharing (logic: governance/identity.py).

- Group membership is read fresh on every call with a recursive CTE (``UNION``, so it terminates even
  on a cycle that slipped in), never cached: a membership change is effective on the very next query.
- Nesting a group refuses a cycle inside the same ``BEGIN IMMEDIATE`` transaction as the insert,
  so two concurrent nestings cannot build one together.
- Timestamps are fixed-width UTC ISO strings (``ts``), so SQL compares them correctly as text.
- Secrets never come back out: sessions are looked up by the SHA-256 of their id, keys by their
  public id, and the stored key HMAC and password hash are only returned to the functions that
  verify them.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .sqlite_schema import Connections
from .sqlite_store import transaction


class GroupCycleError(ValueError):
    """Nesting would make a group a member of itself (directly or through other groups)."""


def ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def from_ts(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    email: str
    role: str
    disabled: bool
    created_at: dt.datetime
    has_password: bool

    @property
    def principal(self) -> str:
        return f"user:{self.id}"


@dataclass(frozen=True)
class Group:
    id: int
    name: str
    description: str
    created_at: dt.datetime

    @property
    def principal(self) -> str:
        return f"group:{self.id}"


@dataclass(frozen=True)
class ApiKeyRecord:
    id: int
    public_id: str
    user_id: int
    username: str
    name: str
    scopes: frozenset[str]
    created_at: dt.datetime
    expires_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


@dataclass(frozen=True)
class SessionRecord:
    user_id: int
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime


_USER = "u.id, u.username, u.display_name, u.email, u.role, u.disabled, u.created_at, u.password_hash IS NOT NULL"
_KEY = ("k.id, k.public_id, k.user_id, u.username, k.name, k.scopes, k.created_at, k.expires_at, k.last_used_at, "
        "k.revoked_at")


def _user(row: tuple[Any, ...]) -> User:
    id_, username, display, email, role, disabled, created, has_pw = row
    return User(id_, username, display, email, role, bool(disabled), from_ts(created) or dt.datetime.min, bool(has_pw))


def _group(row: tuple[Any, ...]) -> Group:
    id_, name, description, created = row
    return Group(id_, name, description, from_ts(created) or dt.datetime.min)


def _key(row: tuple[Any, ...]) -> ApiKeyRecord:
    id_, public_id, user_id, username, name, scopes, created, expires, used, revoked = row
    return ApiKeyRecord(id_, public_id, user_id, username, name, frozenset(json.loads(scopes)),
                        from_ts(created) or dt.datetime.min, from_ts(expires) or dt.datetime.min,
                        from_ts(used), from_ts(revoked))


class IdentityTables:
    def __init__(self, conns: Connections) -> None:
        self.conns = conns

    @property
    def conn(self) -> sqlite3.Connection:
        return self.conns.get()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """Several reads that see one consistent state of the database."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # users ---------------------------------------------------------------------------------
    def insert_user(self, username: str, display_name: str, email: str, role: str, password_hash: str | None,
                    at: dt.datetime, only_if_no_admin: bool = False) -> int | None:
        """The new user's id; None when ``only_if_no_admin`` and an admin exists. Raises IntegrityError on a taken name."""
        conn = self.conn
        with transaction(conn):
            if only_if_no_admin and conn.execute("SELECT 1 FROM users WHERE role='admin' LIMIT 1").fetchone():
                return None
            cur = conn.execute(
                "INSERT INTO users(username, display_name, email, role, disabled, password_hash, created_at) "
                "VALUES (?,?,?,?,0,?,?)", (username, display_name, email, role, password_hash, ts(at)))
            return int(cur.lastrowid or 0)

    def user(self, user_id: int) -> User | None:
        row = self.conn.execute(f"SELECT {_USER} FROM users u WHERE u.id=?", (user_id,)).fetchone()
        return _user(row) if row else None

    def user_by_username(self, username: str) -> User | None:
        row = self.conn.execute(f"SELECT {_USER} FROM users u WHERE u.username=?", (username,)).fetchone()
        return _user(row) if row else None

    def credentials(self, username: str) -> tuple[User, str | None] | None:
        row = self.conn.execute(f"SELECT {_USER}, u.password_hash FROM users u WHERE u.username=?",
                                (username,)).fetchone()
        return (_user(row[:-1]), row[-1]) if row else None

    def users(self) -> list[User]:
        return [_user(r) for r in self.conn.execute(f"SELECT {_USER} FROM users u ORDER BY u.username")]

    def users_exist(self, user_ids: Iterable[int]) -> set[int]:
        ids = sorted(set(user_ids))
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {i for (i,) in self.conn.execute(f"SELECT id FROM users WHERE id IN ({marks})", ids)}

    _USER_FIELDS = frozenset({"display_name", "email", "role", "password_hash"})

    def update_user(self, user_id: int, **fields: object) -> bool:
        bad = set(fields) - self._USER_FIELDS
        if bad or not fields:
            raise ValueError(f"cannot update {sorted(bad) or 'nothing'}")
        sets = ", ".join(f"{k}=?" for k in fields)
        cur = self.conn.execute(f"UPDATE users SET {sets} WHERE id=?", [*fields.values(), user_id])
        return bool(cur.rowcount)

    def set_password_and_end_sessions(self, user_id: int, password_hash: str | None) -> bool:
        conn = self.conn
        with transaction(conn):
            cur = conn.execute("UPDATE users SET password_hash=? WHERE id=?", (password_hash, user_id))
            conn.execute("DELETE FROM sessions WHERE user_id=?", (user_id,))
        return bool(cur.rowcount)

    def set_disabled(self, user_id: int, disabled: bool) -> bool:
        """Disabling also ends every session of the user, in the same transaction."""
        conn = self.conn
        with transaction(conn):
            cur = conn.execute("UPDATE users SET disabled=? WHERE id=?", (int(disabled), user_id))
            if disabled:
                conn.execute("DELETE FROM sessions WHERE user_id=?", (user_id,))
        return bool(cur.rowcount)

    # identities ----------------------------------------------------------------------------
    def link_identity(self, user_id: int, issuer: str, subject: str, at: dt.datetime) -> None:
        self.conn.execute("INSERT INTO user_identities(issuer, subject, user_id, created_at) VALUES (?,?,?,?)",
                          (issuer, subject, user_id, ts(at)))

    def user_id_for_identity(self, issuer: str, subject: str) -> int | None:
        row = self.conn.execute("SELECT user_id FROM user_identities WHERE issuer=? AND subject=?",
                                (issuer, subject)).fetchone()
        return int(row[0]) if row else None

    def identities(self, user_id: int) -> list[tuple[str, str]]:
        return [(i, s) for i, s in self.conn.execute(
            "SELECT issuer, subject FROM user_identities WHERE user_id=? ORDER BY issuer, subject", (user_id,))]

    def add_external_principal(self, user_id: int, principal: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO user_external_principals(user_id, principal) VALUES (?,?)",
                          (user_id, principal))

    def external_principals(self, user_id: int) -> list[str]:
        return [p for (p,) in self.conn.execute(
            "SELECT principal FROM user_external_principals WHERE user_id=? ORDER BY principal", (user_id,))]

    def remove_external_principal(self, user_id: int, principal: str) -> bool:
        cur = self.conn.execute("DELETE FROM user_external_principals WHERE user_id=? AND principal=?",
                                (user_id, principal))
        return bool(cur.rowcount)

    # groups --------------------------------------------------------------------------------
    def insert_group(self, name: str, description: str, at: dt.datetime) -> int:
        cur = self.conn.execute("INSERT INTO access_groups(name, description, created_at) VALUES (?,?,?)",
                                (name, description, ts(at)))
        return int(cur.lastrowid or 0)

    def group(self, group_id: int) -> Group | None:
        row = self.conn.execute("SELECT id, name, description, created_at FROM access_groups WHERE id=?",
                                (group_id,)).fetchone()
        return _group(row) if row else None

    def group_by_name(self, name: str) -> Group | None:
        row = self.conn.execute("SELECT id, name, description, created_at FROM access_groups WHERE name=?",
                                (name,)).fetchone()
        return _group(row) if row else None

    def groups(self) -> list[Group]:
        return [_group(r) for r in self.conn.execute(
            "SELECT id, name, description, created_at FROM access_groups ORDER BY name")]

    def groups_exist(self, group_ids: Iterable[int]) -> set[int]:
        ids = sorted(set(group_ids))
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {i for (i,) in self.conn.execute(f"SELECT id FROM access_groups WHERE id IN ({marks})", ids)}

    def add_user_member(self, group_id: int, user_id: int) -> bool:
        cur = self.conn.execute("INSERT OR IGNORE INTO group_user_members(group_id, user_id) VALUES (?,?)",
                                (group_id, user_id))
        return bool(cur.rowcount)

    def remove_user_member(self, group_id: int, user_id: int) -> bool:
        cur = self.conn.execute("DELETE FROM group_user_members WHERE group_id=? AND user_id=?", (group_id, user_id))
        return bool(cur.rowcount)

    def add_group_member(self, parent_id: int, child_id: int) -> bool:
        """Nest ``child`` inside ``parent``; GroupCycleError when ``parent`` is ``child`` or already inside it."""
        conn = self.conn
        with transaction(conn):
            if parent_id == child_id or parent_id in self._descendants(conn, child_id):
                raise GroupCycleError(f"group {child_id} contains group {parent_id}: nesting it there would make a cycle")
            cur = conn.execute("INSERT OR IGNORE INTO group_group_members(parent_id, child_id) VALUES (?,?)",
                               (parent_id, child_id))
        return bool(cur.rowcount)

    def remove_group_member(self, parent_id: int, child_id: int) -> bool:
        cur = self.conn.execute("DELETE FROM group_group_members WHERE parent_id=? AND child_id=?",
                                (parent_id, child_id))
        return bool(cur.rowcount)

    @staticmethod
    def _descendants(conn: sqlite3.Connection, group_id: int) -> set[int]:
        rows = conn.execute(
            "WITH RECURSIVE d(id) AS (SELECT child_id FROM group_group_members WHERE parent_id=? "
            "UNION SELECT m.child_id FROM group_group_members m JOIN d ON m.parent_id = d.id) SELECT id FROM d",
            (group_id,))
        return {i for (i,) in rows}

    def members(self, group_id: int) -> tuple[list[User], list[Group]]:
        """Direct members: users and nested groups."""
        users = [_user(r) for r in self.conn.execute(
            f"SELECT {_USER} FROM users u JOIN group_user_members m ON m.user_id = u.id WHERE m.group_id=? "
            "ORDER BY u.username", (group_id,))]
        groups = [_group(r) for r in self.conn.execute(
            "SELECT g.id, g.name, g.description, g.created_at FROM access_groups g "
            "JOIN group_group_members m ON m.child_id = g.id WHERE m.parent_id=? ORDER BY g.name", (group_id,))]
        return users, groups

    def principal_rows(self, user_id: int) -> tuple[User | None, set[int], set[str]]:
        """(user, every group it is in after nesting, its external principals), read in one snapshot."""
        with self.snapshot() as conn:
            row = conn.execute(f"SELECT {_USER} FROM users u WHERE u.id=?", (user_id,)).fetchone()
            if row is None:
                return None, set(), set()
            groups = {g for (g,) in conn.execute(
                "WITH RECURSIVE g(id) AS (SELECT group_id FROM group_user_members WHERE user_id=? "
                "UNION SELECT m.parent_id FROM group_group_members m JOIN g ON m.child_id = g.id) SELECT id FROM g",
                (user_id,))}
            # the user's ext: identities, plus every source group that contains one of them (nested groups
            # too): connectors sync group members into external_group_members (sources/runner.py)
            ext = {p for (p,) in conn.execute(
                "WITH RECURSIVE e(p) AS (SELECT principal FROM user_external_principals WHERE user_id=? "
                "UNION SELECT g.group_principal FROM external_group_members g JOIN e ON g.member = e.p) SELECT p FROM e",
                (user_id,))}
        return _user(row), groups, ext

    # sessions ------------------------------------------------------------------------------
    def insert_session(self, token_hash: str, user_id: int, at: dt.datetime, expires: dt.datetime,
                       replaces: str | None = None) -> None:
        conn = self.conn
        with transaction(conn):
            if replaces is not None:
                conn.execute("DELETE FROM sessions WHERE token_hash=?", (replaces,))
            conn.execute("INSERT INTO sessions(token_hash, user_id, created_at, last_seen_at, expires_at) "
                         "VALUES (?,?,?,?,?)", (token_hash, user_id, ts(at), ts(at), ts(expires)))

    def session(self, token_hash: str) -> SessionRecord | None:
        row = self.conn.execute("SELECT user_id, created_at, last_seen_at, expires_at FROM sessions WHERE token_hash=?",
                                (token_hash,)).fetchone()
        if row is None:
            return None
        user_id, created, seen, expires = row
        return SessionRecord(user_id, *(from_ts(v) or dt.datetime.min for v in (created, seen, expires)))

    def touch_session(self, token_hash: str, at: dt.datetime) -> None:
        self.conn.execute("UPDATE sessions SET last_seen_at=? WHERE token_hash=?", (ts(at), token_hash))

    def delete_session(self, token_hash: str) -> bool:
        return bool(self.conn.execute("DELETE FROM sessions WHERE token_hash=?", (token_hash,)).rowcount)

    def delete_user_sessions(self, user_id: int) -> int:
        return int(self.conn.execute("DELETE FROM sessions WHERE user_id=?", (user_id,)).rowcount)

    def purge_sessions(self, at: dt.datetime, idle_before: dt.datetime) -> int:
        cur = self.conn.execute("DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at < ?",
                                (ts(at), ts(idle_before)))
        return int(cur.rowcount)

    def count_sessions(self, user_id: int) -> int:
        return int(self.conn.execute("SELECT count(*) FROM sessions WHERE user_id=?", (user_id,)).fetchone()[0])

    # API keys ------------------------------------------------------------------------------
    def insert_key(self, public_id: str, user_id: int, name: str, key_hash: str, scopes: frozenset[str],
                   at: dt.datetime, expires: dt.datetime) -> int:
        cur = self.conn.execute(
            "INSERT INTO api_keys(public_id, user_id, name, key_hash, scopes, created_at, expires_at) "
            "VALUES (?,?,?,?,?,?,?)", (public_id, user_id, name, key_hash, json.dumps(sorted(scopes)), ts(at), ts(expires)))
        return int(cur.lastrowid or 0)

    def key_with_hash(self, public_id: str) -> tuple[ApiKeyRecord, str] | None:
        row = self.conn.execute(f"SELECT {_KEY}, k.key_hash FROM api_keys k JOIN users u ON u.id = k.user_id "
                                "WHERE k.public_id=?", (public_id,)).fetchone()
        return (_key(row[:-1]), row[-1]) if row else None

    def keys(self, user_id: int | None = None) -> list[ApiKeyRecord]:
        sql = f"SELECT {_KEY} FROM api_keys k JOIN users u ON u.id = k.user_id"
        params: list[object] = []
        if user_id is not None:
            sql += " WHERE k.user_id=?"
            params.append(user_id)
        return [_key(r) for r in self.conn.execute(sql + " ORDER BY k.id", params)]

    def revoke_key(self, public_id: str, at: dt.datetime) -> bool:
        cur = self.conn.execute("UPDATE api_keys SET revoked_at=? WHERE public_id=? AND revoked_at IS NULL",
                                (ts(at), public_id))
        return bool(cur.rowcount)

    def touch_key(self, key_id: int, at: dt.datetime) -> None:
        self.conn.execute("UPDATE api_keys SET last_used_at=? WHERE id=?", (ts(at), key_id))

    # document sharing ----------------------------------------------------------------------
    def change_document_principals(self, uri: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> tuple[str, ...] | None:
        """Add and remove ACL principals of one document in one transaction; its new ACL, or None if unknown."""
        conn = self.conn
        with transaction(conn):
            row = conn.execute("SELECT id FROM documents WHERE uri=?", (uri,)).fetchone()
            if row is None:
                return None
            doc_id = row[0]
            conn.executemany("DELETE FROM document_acl WHERE doc_id=? AND principal=?", [(doc_id, p) for p in remove])
            conn.executemany("INSERT OR IGNORE INTO document_acl(doc_id, principal) VALUES (?,?)",
                             [(doc_id, p) for p in add])
            return tuple(p for (p,) in conn.execute(
                "SELECT principal FROM document_acl WHERE doc_id=? ORDER BY principal", (doc_id,)))
