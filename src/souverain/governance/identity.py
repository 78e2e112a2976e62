"""Identity: users, groups, principals, sessions, API keys and document sharing, over the SQLite index.

Who may read what is decided by principals (docs/permissions.md):

- a user holds ``user:<id>``, ``group:<id>`` for every group it belongs to directly or through nested
  groups, the ``ext:<source>:<id>`` identities linked to it (how connectors name it), and ``public``;
- ``access_filter_for(user_id)`` turns that set into the ``AccessFilter`` every search, page read and
  listing takes. It is computed from the database on every call (no cache), so a membership, role
  or sharing change is effective on the very next query. A disabled or unknown user gets no filter
  at all (``UserDisabledError`` / ``NotFoundError``), not a public one.
- Roles (admin, member, auditor) say what a user may *administer*; they never widen what it may
  *read*: an admin's searches are filtered like everyone else's.
- A sign-in identity is ``(issuer, subject)`` (``link_identity``), never an e-mail address: two
  providers, or one reusing an address, must not map to the same account by accident.
- Ids come from AUTOINCREMENT and are never reused, so ``user:<id>`` grants can't pass to a newcomer.
- The last enabled admin cannot be disabled or demoted, so the instance can't be locked out.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Callable, Iterable
from typing import Literal

from argon2 import PasswordHasher

from ..documents import PUBLIC, AccessFilter, validate_principal
from ..index.sqlite_identity import Group, GroupCycleError, IdentityTables, User
from ..index.sqlite_store import SQLiteStore
from ..settings import Settings
from .api_keys import ApiKeys, KeyGrant, NewApiKey
from .passwords import Passwords
from .server_key import load_secret_key
from .sessions import SessionGrant, Sessions

Role = Literal["admin", "member", "auditor"]
ROLES: tuple[str, ...] = ("admin", "member", "auditor")
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
GROUP_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._@/:-]{0,127}")
SOURCE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

__all__ = [
    "ROLES", "GroupCycleError", "Group", "IdentityError", "IdentityService", "KeyGrant", "NewApiKey",
    "NotFoundError", "Role", "SessionGrant", "User", "UserDisabledError",
]


class IdentityError(ValueError):
    """A request the identity store refuses: a taken name, an invalid value, the last admin."""


class NotFoundError(IdentityError, LookupError):
    pass


class UserDisabledError(IdentityError):
    pass


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME_RE.fullmatch(name):
        raise IdentityError(f"invalid username {username!r}: 1-64 of a-z 0-9 . _ @ -, starting with a letter or digit")
    return name


def normalise_group_name(name: str) -> str:
    clean = name.strip().lower()
    if not GROUP_NAME_RE.fullmatch(clean):
        raise IdentityError(f"invalid group name {name!r}: 1-128 of a-z 0-9 . _ @ / : -, starting with a letter or digit")
    return clean


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise IdentityError(f"invalid role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def _check_email(email: str) -> str:
    email = email.strip()
    if email and (len(email) > 254 or "@" not in email or any(c.isspace() for c in email)):
        raise IdentityError(f"invalid e-mail address {email!r}")
    return email


class IdentityService:
    def __init__(self, store: SQLiteStore, secret_key: bytes, *, session_max_age: dt.timedelta = dt.timedelta(hours=12),
                 session_idle: dt.timedelta = dt.timedelta(hours=1), password_hasher: PasswordHasher | None = None,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        if len(secret_key) < 32:
            raise ValueError("the server secret key needs at least 32 bytes")
        self.store = store
        self.tables = IdentityTables(store.conns)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.passwords = Passwords(password_hasher)
        self.sessions = Sessions(self.tables, secret_key, session_max_age, session_idle, self.clock)
        self.api_keys = ApiKeys(self.tables, secret_key, self.clock)

    @classmethod
    def from_settings(cls, settings: Settings, store: SQLiteStore, **kwargs: object) -> IdentityService:
        return cls(store, load_secret_key(settings),
                   session_max_age=dt.timedelta(hours=settings.session_max_age_hours),
                   session_idle=dt.timedelta(minutes=settings.session_idle_minutes), **kwargs)  # type: ignore[arg-type]

    # users ---------------------------------------------------------------------------------
    def create_user(self, username: str, *, role: str = "member", password: str | None = None,
                    display_name: str = "", email: str = "") -> User:
        return self._create_user(username, role, password, display_name, email, first_admin=False)

    def create_first_admin(self, username: str, password: str, *, display_name: str = "", email: str = "") -> User:
        """The first administrator; refused once any admin exists (later ones: ``create_user(role="admin")``)."""
        return self._create_user(username, "admin", password, display_name, email, first_admin=True)

    def _create_user(self, username: str, role: str, password: str | None, display_name: str, email: str,
                     first_admin: bool) -> User:
        name = normalise_username(username)
        pw_hash = self.passwords.hash(password) if password is not None else None
        try:
            user_id = self.tables.insert_user(name, display_name.strip()[:200], _check_email(email), _check_role(role),
                                              pw_hash, self.clock(), only_if_no_admin=first_admin)
        except sqlite3.IntegrityError:
            raise IdentityError(f"the username {name!r} is taken") from None
        if user_id is None:
            raise IdentityError("an administrator exists already; add more with `users add --role admin`")
        return self.user(user_id)

    def user(self, user_id: int) -> User:
        user = self.tables.user(user_id)
        if user is None:
            raise NotFoundError(f"no user with id {user_id}")
        return user

    def find_user(self, username: str) -> User | None:
        try:
            return self.tables.user_by_username(normalise_username(username))
        except IdentityError:
            return None

    def user_by_name(self, username: str) -> User:
        user = self.find_user(username)
        if user is None:
            raise NotFoundError(f"no user named {username!r}")
        return user

    def list_users(self) -> list[User]:
        return self.tables.users()

    def set_role(self, user_id: int, role: str) -> User:
        user = self.user(user_id)
        if user.role == "admin" and _check_role(role) != "admin":
            self._keep_an_admin(user)
        self.tables.update_user(user_id, role=_check_role(role))
        return self.user(user_id)

    def update_profile(self, user_id: int, *, display_name: str | None = None, email: str | None = None) -> User:
        fields: dict[str, object] = {}
        if display_name is not None:
            fields["display_name"] = display_name.strip()[:200]
        if email is not None:
            fields["email"] = _check_email(email)
        if fields and not self.tables.update_user(user_id, **fields):
            raise NotFoundError(f"no user with id {user_id}")
        return self.user(user_id)

    def set_password(self, user_id: int, password: str | None) -> None:
        """Set (or, with None, remove) the local password; every session of the user ends."""
        pw_hash = self.passwords.hash(password) if password is not None else None
        if not self.tables.set_password_and_end_sessions(user_id, pw_hash):
            raise NotFoundError(f"no user with id {user_id}")

    def disable_user(self, user_id: int) -> User:
        """The user can no longer sign in or use its API keys; every session ends at once."""
        user = self.user(user_id)
        if user.role == "admin" and not user.disabled:
            self._keep_an_admin(user)
        self.tables.set_disabled(user_id, True)
        return self.user(user_id)

    def enable_user(self, user_id: int) -> User:
        if not self.tables.set_disabled(user_id, False):
            raise NotFoundError(f"no user with id {user_id}")
        return self.user(user_id)

    def _keep_an_admin(self, user: User) -> None:
        if not any(u.role == "admin" and not u.disabled and u.id != user.id for u in self.tables.users()):
            raise IdentityError(f"{user.username!r} is the last enabled administrator")

    # external identities -------------------------------------------------------------------
    def link_identity(self, user_id: int, issuer: str, subject: str) -> None:
        """Let ``(issuer, subject)`` (e.g. an OIDC ``iss`` and ``sub``) sign in as this user."""
        if not issuer.strip() or not subject.strip():
            raise IdentityError("an identity needs an issuer and a subject")
        self.user(user_id)
        try:
            self.tables.link_identity(user_id, issuer, subject, self.clock())
        except sqlite3.IntegrityError:
            if self.tables.user_id_for_identity(issuer, subject) != user_id:
                raise IdentityError("this identity is linked to another user") from None

    def user_for_identity(self, issuer: str, subject: str) -> User | None:
        user_id = self.tables.user_id_for_identity(issuer, subject)
        return self.tables.user(user_id) if user_id is not None else None

    def identities(self, user_id: int) -> list[tuple[str, str]]:
        return self.tables.identities(user_id)

    def add_external_principal(self, user_id: int, source: str, external_id: str) -> str:
        """Give the user ``ext:<source>:<external_id>``: how a connector's ACLs name this person."""
        if not SOURCE_RE.fullmatch(source) or not external_id.strip():
            raise IdentityError(f"invalid external identity {source!r}:{external_id!r}")
        principal = validate_principal(f"ext:{source}:{external_id.strip()}")
        self.user(user_id)
        self.tables.add_external_principal(user_id, principal)
        return principal

    def remove_external_principal(self, user_id: int, principal: str) -> bool:
        return self.tables.remove_external_principal(user_id, principal)

    def external_principals(self, user_id: int) -> tuple[list[str], list[str]]:
        """(the ext: identities linked to the user, those plus the source groups they reach)."""
        linked = self.tables.external_principals(self.user(user_id).id)
        return linked, sorted(self.tables.principal_rows(user_id)[2])

    def sync_external_principals(self, user_id: int, namespace: str, principals: Iterable[str]) -> set[str]:
        """Make the user's ``ext:<namespace>:`` principals exactly ``principals`` (an OIDC sign-in's claims)."""
        wanted = {validate_principal(p) for p in principals}
        prefix = f"ext:{namespace}:"
        if any(not p.startswith(prefix) for p in wanted):
            raise IdentityError(f"principals outside the {namespace!r} namespace")
        linked = {p for p in self.tables.external_principals(self.user(user_id).id) if p.startswith(prefix)}
        for p in linked - wanted:
            self.tables.remove_external_principal(user_id, p)
        for p in wanted - linked:
            self.tables.add_external_principal(user_id, p)
        return wanted

    # groups --------------------------------------------------------------------------------
    def create_group(self, name: str, description: str = "") -> Group:
        clean = normalise_group_name(name)
        try:
            group_id = self.tables.insert_group(clean, description.strip()[:500], self.clock())
        except sqlite3.IntegrityError:
            raise IdentityError(f"a group named {clean!r} exists already") from None
        return self.group(group_id)

    def group(self, group_id: int) -> Group:
        group = self.tables.group(group_id)
        if group is None:
            raise NotFoundError(f"no group with id {group_id}")
        return group

    def find_group(self, name: str) -> Group | None:
        try:
            return self.tables.group_by_name(normalise_group_name(name))
        except IdentityError:
            return None

    def group_by_name(self, name: str) -> Group:
        group = self.find_group(name)
        if group is None:
            raise NotFoundError(f"no group named {name!r}")
        return group

    def list_groups(self) -> list[Group]:
        return self.tables.groups()

    def group_members(self, group_id: int) -> tuple[list[User], list[Group]]:
        """Direct members of a group: (users, nested groups)."""
        self.group(group_id)
        return self.tables.members(group_id)

    def add_user_to_group(self, group_id: int, user_id: int) -> bool:
        self.group(group_id)
        self.user(user_id)
        return self.tables.add_user_member(group_id, user_id)

    def remove_user_from_group(self, group_id: int, user_id: int) -> bool:
        return self.tables.remove_user_member(group_id, user_id)

    def add_group_to_group(self, parent_id: int, child_id: int) -> bool:
        """Nest ``child`` inside ``parent`` (members of child become members of parent); cycles are refused."""
        parent, child = self.group(parent_id), self.group(child_id)
        try:
            return self.tables.add_group_member(parent_id, child_id)
        except GroupCycleError:
            raise GroupCycleError(f"group {child.name!r} contains {parent.name!r} (or is it): nesting it there "
                                  "would make a cycle") from None

    def remove_group_from_group(self, parent_id: int, child_id: int) -> bool:
        return self.tables.remove_group_member(parent_id, child_id)

    # principals ----------------------------------------------------------------------------
    def groups_of(self, user_id: int) -> frozenset[int]:
        """Every group the user is in, directly or through nesting."""
        return frozenset(self._principal_rows(user_id)[1])

    def principals_for(self, user_id: int) -> frozenset[str]:
        user, groups, ext = self._principal_rows(user_id)
        return frozenset({user.principal, PUBLIC, *(f"group:{g}" for g in groups), *ext})

    def access_filter_for(self, user_id: int) -> AccessFilter:
        principals = self.principals_for(user_id)
        return AccessFilter(principals, reason=f"user:{user_id} with {len(principals) - 2} group/external principal(s)")

    def _principal_rows(self, user_id: int) -> tuple[User, set[int], set[str]]:
        user, groups, ext = self.tables.principal_rows(user_id)
        if user is None:
            raise NotFoundError(f"no user with id {user_id}")
        if user.disabled:
            raise UserDisabledError(f"user {user.username!r} is disabled")
        return user, groups, ext

    # passwords and sessions ----------------------------------------------------------------
    def verify_password(self, username: str, password: str) -> User | None:
        """The user when the password matches and the account is enabled. Unknown users, users without a
        local password and disabled users cost one argon2 verification too (no enumeration by timing)."""
        try:
            found = self.tables.credentials(normalise_username(username))
        except IdentityError:
            found = None
        user, stored = found if found else (None, None)
        ok = self.passwords.verify(stored, password)
        if not ok or user is None or user.disabled:
            return None
        if stored and self.passwords.needs_rehash(stored):
            self.tables.update_user(user.id, password_hash=self.passwords.hash(password))
        return user

    def sign_in(self, username: str, password: str, previous_token: str | None = None) -> SessionGrant | None:
        """Check the password and open a new session, ending the one the browser had before (rotation)."""
        user = self.verify_password(username, password)
        return self.sessions.create(user, previous_token) if user else None

    def create_session(self, user_id: int, previous_token: str | None = None) -> SessionGrant:
        """A session for a user authenticated another way (OIDC); refused for a disabled user."""
        user = self.user(user_id)
        if user.disabled:
            raise UserDisabledError(f"user {user.username!r} is disabled")
        return self.sessions.create(user, previous_token)

    def session_user(self, token: str | None) -> User | None:
        return self.sessions.user_for(token)

    def rotate_session(self, token: str) -> SessionGrant | None:
        return self.sessions.rotate(token)

    def sign_out(self, token: str | None) -> bool:
        return self.sessions.end(token)

    def end_all_sessions(self, user_id: int) -> int:
        """Sign out everywhere: every session of the user ends (API keys are revoked separately)."""
        return self.sessions.end_all(user_id)

    # API keys ------------------------------------------------------------------------------
    def create_api_key(self, user_id: int, scopes: Iterable[str], expires_days: int = 90, name: str = "") -> NewApiKey:
        return self.api_keys.create(self.user(user_id), frozenset(scopes), expires_days, name)

    def authenticate_api_key(self, key: str | None) -> KeyGrant | None:
        return self.api_keys.authenticate(key)

    def revoke_api_key(self, key_or_public_id: str) -> bool:
        return self.api_keys.revoke(key_or_public_id)

    # document sharing ----------------------------------------------------------------------
    def validate_principals(self, principals: Iterable[str]) -> tuple[str, ...]:
        """Well-formed principals whose ``user:``/``group:`` ids exist; IdentityError otherwise."""
        clean: set[str] = set()
        users: set[int] = set()
        groups: set[int] = set()
        for p in principals:
            try:
                validate_principal(p)
            except ValueError as exc:
                raise IdentityError(str(exc)) from None
            kind, _, rest = p.partition(":")
            if kind in ("user", "group"):
                if not rest.isdigit() or rest != str(int(rest)):
                    raise IdentityError(f"invalid principal {p!r}: {kind} ids are numbers")
                (users if kind == "user" else groups).add(int(rest))
            elif kind == "ext":
                source, _, ext_id = rest.partition(":")
                if not SOURCE_RE.fullmatch(source) or not ext_id:
                    raise IdentityError(f"invalid principal {p!r}: expected ext:<source>:<id>")
            clean.add(p)
        missing = [f"user:{u}" for u in sorted(users - self.tables.users_exist(users))]
        missing += [f"group:{g}" for g in sorted(groups - self.tables.groups_exist(groups))]
        if missing:
            raise NotFoundError(f"unknown principal(s): {', '.join(missing)}")
        return tuple(sorted(clean))

    def share_document(self, uri: str, principals: Iterable[str]) -> tuple[str, ...]:
        """Add principals to a document's ACL; its new ACL. Effective on the next query."""
        return self._change_acl(uri, add=self.validate_principals(principals))

    def unshare_document(self, uri: str, principals: Iterable[str]) -> tuple[str, ...]:
        """Remove principals from a document's ACL (an emptied ACL leaves the document invisible to all)."""
        return self._change_acl(uri, remove=tuple(principals))

    def set_document_principals(self, uri: str, principals: Iterable[str]) -> tuple[str, ...]:
        """Replace a document's ACL (``SQLiteStore.set_principals``); an empty ACL is refused."""
        clean = self.validate_principals(principals)
        if not clean:
            raise IdentityError("an empty ACL would hide the document from everyone; delete it instead")
        if not self.store.set_principals(uri, clean):
            raise NotFoundError(f"no document {uri!r}")
        return clean

    def _change_acl(self, uri: str, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> tuple[str, ...]:
        acl = self.tables.change_document_principals(uri, add, remove)
        if acl is None:
            raise NotFoundError(f"no document {uri!r}")
        return acl
