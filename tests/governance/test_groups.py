"""Groups: nesting, cycles refused, principals after nesting, changes effective at once, sharing validated."""

from __future__ import annotations

import pytest

from souverain.documents import AccessFilter, Page
from souverain.governance.identity import GroupCycleError, IdentityError, IdentityService, NotFoundError
from souverain.index.base import DocumentRecord


def test_principals_after_nesting(ident: IdentityService) -> None:
    alice = ident.create_user("alice")
    eng, backend, staff, other = (ident.create_group(n) for n in ("eng", "eng/backend", "staff", "other"))
    ident.add_user_to_group(backend.id, alice.id)
    ident.add_group_to_group(eng.id, backend.id)
    ident.add_group_to_group(staff.id, eng.id)
    ext = ident.add_external_principal(alice.id, "sharepoint", "alice@corp.example")
    assert ext == "ext:sharepoint:alice@corp.example"
    expected = {f"user:{alice.id}", "public", backend.principal, eng.principal, staff.principal, ext}
    assert ident.principals_for(alice.id) == expected
    access = ident.access_filter_for(alice.id)
    assert isinstance(access, AccessFilter) and access.principals == expected and other.principal not in expected
    ident.remove_group_from_group(eng.id, backend.id)  # effective on the very next call
    assert ident.principals_for(alice.id) == {f"user:{alice.id}", "public", backend.principal, ext}
    ident.remove_user_from_group(backend.id, alice.id)
    assert ident.groups_of(alice.id) == frozenset()


def test_cycles_are_refused(ident: IdentityService) -> None:
    a, b, c = (ident.create_group(n) for n in "abc")
    ident.add_group_to_group(a.id, b.id)
    ident.add_group_to_group(b.id, c.id)
    for parent, child in ((a, a), (c, a), (b, a), (c, b)):
        with pytest.raises(GroupCycleError, match="cycle"):
            ident.add_group_to_group(parent.id, child.id)
    assert ident.add_group_to_group(a.id, c.id)  # a shortcut is no cycle
    assert not ident.add_group_to_group(a.id, c.id)  # idempotent
    users, groups = ident.group_members(a.id)
    assert users == [] and [g.name for g in groups] == ["b", "c"]
    with pytest.raises(IdentityError, match="exists already"):
        ident.create_group("A")
    with pytest.raises(NotFoundError):
        ident.add_group_to_group(a.id, 999)


def _doc(ident: IdentityService, uri: str, principals: tuple[str, ...]) -> None:
    text = f"quarterly canary report {uri}"
    ident.store.replace_document(
        DocumentRecord(uri=uri, title=uri, source="upload", format="text", sha256="0", size_bytes=len(text),
                       language="en", modified_at=None, ingested_at=None, page_count=1, char_count=len(text),
                       chunk_count=0, principals=principals, metadata={}),
        [Page(1, text)], [])


def test_sharing_validates_principals_and_applies_at_once(ident: IdentityService) -> None:
    alice, bob = ident.create_user("alice"), ident.create_user("bob")
    team = ident.create_group("team")
    _doc(ident, "mem://a", (alice.principal,))
    def visible(user_id: int) -> list[str]:
        return [d.uri for d in ident.store.list_documents(ident.access_filter_for(user_id))]

    assert visible(alice.id) == ["mem://a"] and visible(bob.id) == []
    assert ident.share_document("mem://a", [team.principal]) == tuple(sorted((alice.principal, team.principal)))
    assert visible(bob.id) == []
    ident.add_user_to_group(team.id, bob.id)
    assert visible(bob.id) == ["mem://a"]
    assert ident.store.page_text("mem://a", 1, ident.access_filter_for(bob.id)) is not None
    ident.unshare_document("mem://a", [team.principal])
    assert visible(bob.id) == [] and ident.store.page_text("mem://a", 1, ident.access_filter_for(bob.id)) is None
    for bad in (["user:999"], ["group:12345"], ["user:abc"], ["user:01"], ["ext:"], ["ext:drive"], ["admin"], [""]):
        with pytest.raises(IdentityError):
            ident.share_document("mem://a", bad)
    with pytest.raises(NotFoundError):
        ident.share_document("mem://missing", ["public"])
    with pytest.raises(IdentityError, match="empty ACL"):
        ident.set_document_principals("mem://a", [])
    assert ident.set_document_principals("mem://a", ["public"]) == ("public",)
    assert visible(bob.id) == ["mem://a"]
