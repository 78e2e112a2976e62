"""Property: every search result is one the user may read, and revoking access removes it on the next search.

Random users, groups nested at random (cycles must be refused exactly when a reference says so),
external identities and documents with random ACLs (including empty ones and principals nobody
holds) go into a real index through the real ingestion pipeline; lexical searches run with the
``AccessFilter`` the identity store builds. A plain-Python reference computes who may read what.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from souverain.documents import RawDocument
from souverain.governance.identity import GroupCycleError, IdentityService, UserDisabledError
from souverain.service import Souverain
from souverain.settings import Settings

from .conftest import FAST_HASHER, SECRET

Token = tuple[str, int] | str  # ("user", i) / ("group", j) / ("ext", i), or a literal principal


class NoEmbedder:
    """Lexical searches never embed; anything else would be a bug here."""

    name = "none"

    def embed_query(self, text: str) -> None:
        raise AssertionError("a lexical search must not embed")


@dataclass
class World:
    n_users: int
    n_groups: int
    memberships: list[tuple[int, int]]  # (user, group)
    nestings: list[tuple[int, int]]  # (parent, child)
    ext: list[bool]
    acls: list[list[Token]]
    pick: int


@st.composite
def worlds(draw: st.DrawFn) -> World:
    n_users = draw(st.integers(1, 4))
    n_groups = draw(st.integers(0, 4))
    pairs = st.lists(st.tuples(st.integers(0, n_groups - 1), st.integers(0, n_groups - 1)), max_size=6)
    memberships = draw(st.lists(st.tuples(st.integers(0, n_users - 1), st.integers(0, n_groups - 1)), max_size=8)) \
        if n_groups else []
    nestings = draw(pairs) if n_groups else []
    ext = draw(st.lists(st.booleans(), min_size=n_users, max_size=n_users))
    pool: list[Token] = ["public", "user:99999", "group:88888", "ext:drive:nobody"]
    pool += [("user", i) for i in range(n_users)] + [("ext", i) for i in range(n_users)]
    pool += [("group", j) for j in range(n_groups)]
    acls = draw(st.lists(st.lists(st.sampled_from(pool), max_size=3, unique=True), min_size=1, max_size=6))
    return World(n_users, n_groups, memberships, nestings, ext, acls, draw(st.integers(0, 1000)))


class Reference:
    """Who holds what, in plain Python."""

    def __init__(self) -> None:
        self.member_of: set[tuple[int, int]] = set()  # (user index, group index)
        self.nested: set[tuple[int, int]] = set()  # (parent, child)
        self.ext: set[int] = set()

    def descendants(self, group: int) -> set[int]:
        out, todo = set(), [group]
        while todo:
            g = todo.pop()
            for parent, child in self.nested:
                if parent == g and child not in out:
                    out.add(child)
                    todo.append(child)
        return out

    def groups_of(self, user: int) -> set[int]:
        direct = {g for u, g in self.member_of if u == user}
        return direct | {p for p, _ in self.nested for g in direct if g in self.descendants(p)}

    def may_read(self, user: int, acl: list[Token]) -> bool:
        groups = self.groups_of(user)
        return any(t == "public" or t == ("user", user) or (t == ("ext", user) and user in self.ext)
                   or (isinstance(t, tuple) and t[0] == "group" and t[1] in groups) for t in acl)


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(world=worlds())
def test_search_results_follow_permissions(world: World) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        svc = Souverain(Settings(data_dir=Path(tmp)), embedder=NoEmbedder())  # type: ignore[arg-type]
        try:
            _check_world(svc, world)
        finally:
            svc.close()


def _check_world(svc: Souverain, world: World) -> None:
    ident = IdentityService(svc.store, SECRET, password_hasher=FAST_HASHER)
    ref = Reference()
    users = [ident.create_user(f"u{i}") for i in range(world.n_users)]
    groups = [ident.create_group(f"g{j}") for j in range(world.n_groups)]
    for u, g in world.memberships:
        ident.add_user_to_group(groups[g].id, users[u].id)
        ref.member_of.add((u, g))
    for parent, child in world.nestings:
        cycle = parent == child or parent in ref.descendants(child)
        try:
            ident.add_group_to_group(groups[parent].id, groups[child].id)
        except GroupCycleError:
            assert cycle, (parent, child, ref.nested)
        else:
            assert not cycle, (parent, child, ref.nested)
            ref.nested.add((parent, child))
    for i, has_ext in enumerate(world.ext):
        if has_ext:
            ident.add_external_principal(users[i].id, "drive", f"person-{i}")
            ref.ext.add(i)

    def principal(t: Token) -> str:
        if isinstance(t, str):
            return t
        kind, i = t
        if kind == "user":
            return users[i].principal
        return groups[i].principal if kind == "group" else f"ext:drive:person-{i}"

    uris = [f"mem://doc{k}.txt" for k in range(len(world.acls))]
    for uri, acl in zip(uris, world.acls, strict=True):
        principals = tuple(principal(t) for t in acl)
        text = f"The zebra report for {uri.split('//')[1].split('.')[0]} lists the quarterly zebra numbers.\n"
        report = svc.ingestor(principals=principals).ingest_raw(
            RawDocument(uri=uri, data=text.encode(), title=uri, source="upload", principals=principals))
        assert report.status == "indexed", report

    acls = {uri: list(acl) for uri, acl in zip(uris, world.acls, strict=True)}

    def check(step: str) -> None:
        for i, user in enumerate(users):
            hits = svc.search("zebra", ident.access_filter_for(user.id), k=50, mode="lexical").hits
            seen = {h.doc_uri for h in hits}
            allowed = {uri for uri, acl in acls.items() if ref.may_read(i, acl)}
            assert seen <= allowed, (step, i, seen - allowed)
            assert seen == allowed, (step, i, allowed - seen)  # and nothing readable is lost
            event(f"{step}: user sees {'some' if seen else 'none'}{', not all' if len(seen) < len(acls) else ''}")

    check("initial")
    if ref.member_of:  # revoke one direct membership
        u, g = sorted(ref.member_of)[world.pick % len(ref.member_of)]
        assert ident.remove_user_from_group(groups[g].id, users[u].id)
        ref.member_of.discard((u, g))
        check("membership revoked")
    if ref.nested:  # break one nesting
        p, c = sorted(ref.nested)[world.pick % len(ref.nested)]
        assert ident.remove_group_from_group(groups[p].id, groups[c].id)
        ref.nested.discard((p, c))
        check("nesting removed")
    shared = [uri for uri, acl in acls.items() if acl]
    if shared:  # take one principal off a document's ACL
        uri = shared[world.pick % len(shared)]
        token = acls[uri].pop(0)
        ident.unshare_document(uri, [principal(token)])
        check("ACL changed")
    ident.create_user("admin", role="admin")
    ident.disable_user(users[0].id)
    with pytest.raises(UserDisabledError):
        ident.access_filter_for(users[0].id)
