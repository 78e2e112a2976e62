"""Administrators link users to source identities; the effective set includes synced source groups."""

from __future__ import annotations

from souverain.index.sqlite_sources import SourceTable

from .conftest import API, Web


def test_admin_links_and_unlinks_source_identities(web: Web, tmp_path) -> None:  # type: ignore[no-untyped-def]
    user, member = web.persona("linda")
    c = web.client
    url = f"{API}/admin/users/{user.id}/external-identities"
    assert c.get(url).json() == {"linked": [], "effective": []}
    r = c.post(url, json={"namespace": "m365", "external_id": "0b1c-oid"})
    assert r.status_code == 200 and r.json()["linked"] == ["ext:m365:0b1c-oid"]
    assert c.post(url, json={"namespace": "Bad Namespace!", "external_id": "x"}).status_code == 400
    assert c.get(f"{API}/admin/users/999999/external-identities").status_code == 404

    # a source group containing that identity shows up in the effective principals
    root = tmp_path / "g"
    root.mkdir()
    (root / "x.txt").write_text("Group-only memo about the offsite.")
    web.svc.sources.add("linkgroups", "local", {"path": str(root), "acl": {"": ["ext:m365:group:g1"]}})
    table = SourceTable(web.svc.store.conns)
    table.replace_groups(table.get("linkgroups").id, [("ext:m365:group:g1", ["ext:m365:0b1c-oid"])])  # type: ignore[union-attr]
    assert c.get(url).json()["effective"] == ["ext:m365:0b1c-oid", "ext:m365:group:g1"]

    assert member.get(url).status_code == 403  # members cannot read or change links
    r = c.delete(url, params={"principal": "ext:m365:0b1c-oid"})
    assert r.status_code == 200 and r.json() == {"linked": [], "effective": []}
    assert c.delete(url, params={"principal": "ext:m365:0b1c-oid"}).status_code == 404
    web.svc.sources.remove("linkgroups")
