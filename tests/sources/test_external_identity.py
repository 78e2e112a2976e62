"""How source permissions reach signed-in users: linked identities, synced source groups, OIDC claims."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from souverain.documents import AccessFilter
from souverain.governance.external_ids import principals_from_claims
from souverain.governance.identity import IdentityError
from souverain.index.sqlite_sources import SourceTable
from souverain.service import Souverain


def _hits(app: Souverain, query: str, access: AccessFilter) -> set[str]:
    return {h.title.lower() for h in app.search(query, access, mode="lexical").hits}


def test_source_groups_reach_linked_users_including_nested_groups(app: Souverain, tmp_path: Path) -> None:
    root = tmp_path / "f"
    root.mkdir()
    (root / "board.txt").write_text("The board approved the merger with Contoso.")
    g_outer, g_inner = "ext:m365:group:outer", "ext:m365:group:inner"
    app.sources.add("f", "local", {"path": str(root), "acl": {"": [g_outer]}})
    assert app.sources.sync("f").status == "done"
    ident = app.identity
    alice, bob = ident.create_user("alice"), ident.create_user("bob")
    ident.add_external_principal(alice.id, "m365", "aaaa-1111")
    ident.add_external_principal(bob.id, "m365", "bbbb-2222")
    assert _hits(app, "merger contoso", ident.access_filter_for(alice.id)) == set()

    table = SourceTable(app.store.conns)
    sid = table.get("f").id  # type: ignore[union-attr]
    table.replace_groups(sid, [(g_outer, [g_inner]), (g_inner, ["ext:m365:aaaa-1111"])])
    assert g_outer in ident.principals_for(alice.id) and g_inner in ident.principals_for(alice.id)
    assert _hits(app, "merger contoso", ident.access_filter_for(alice.id)) == {"board"}
    assert _hits(app, "merger contoso", ident.access_filter_for(bob.id)) == set()

    # membership removed at the source: gone on the very next query after the groups are replaced
    table.replace_groups(sid, [(g_inner, [])])
    assert _hits(app, "merger contoso", ident.access_filter_for(alice.id)) == set()
    # removing the source removes its groups with it
    table.replace_groups(sid, [(g_inner, ["ext:m365:aaaa-1111"])])
    app.sources.remove("f")
    assert g_outer not in ident.principals_for(alice.id)


def test_oidc_claims_become_connector_principals() -> None:
    assert principals_from_claims("m365", {"oid": "0b1c-oid", "tid": "72f9-tid", "sub": "pairwise"}) == {
        "ext:m365:0b1c-oid", "ext:m365:tenant:72f9-tid"}
    assert principals_from_claims("gdrive", {"email": "Ana@Corp.Example", "email_verified": True, "hd": "corp.example"}) == {
        "ext:gdrive:ana@corp.example", "ext:gdrive:domain:corp.example"}
    # an unverified address is never trusted as an identity
    assert principals_from_claims("gdrive", {"email": "ana@corp.example", "email_verified": False}) == set()
    assert principals_from_claims("nextcloud", {"preferred_username": "ana"}) == {"ext:nextcloud:ana"}
    assert principals_from_claims("m365", {"oid": 12, "tid": ""}) == set()


def test_sign_in_replaces_the_namespace_principals_and_keeps_others(app: Souverain) -> None:
    ident = app.identity
    u = ident.create_user("ana")
    ident.add_external_principal(u.id, "nextcloud", "ana")
    ident.sync_external_principals(u.id, "m365", {"ext:m365:old-oid", "ext:m365:tenant:t1"})
    ident.sync_external_principals(u.id, "m365", {"ext:m365:new-oid", "ext:m365:tenant:t1"})
    held = ident.principals_for(u.id)
    assert {"ext:m365:new-oid", "ext:m365:tenant:t1", "ext:nextcloud:ana"} <= held
    assert "ext:m365:old-oid" not in held
    with pytest.raises(IdentityError):
        ident.sync_external_principals(u.id, "m365", {"ext:gdrive:ana@corp.example"})


def test_cli_links_users_and_manages_sources(tmp_path: Path) -> None:
    data = tmp_path / "data"
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.txt").write_text("Quarterly invoices are archived for ten years.")
    env = {**os.environ, "SOUVERAIN_DATA_DIR": str(data), "PYTHONWARNINGS": "ignore"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "souverain", *args], capture_output=True, text=True, env=env,
                              timeout=120)

    assert cli("users", "add", "ana", "--no-password").returncode == 0
    r = cli("users", "link", "ana", "m365", "0b1c-oid")
    assert r.returncode == 0 and "ext:m365:0b1c-oid" in r.stdout
    assert cli("users", "link", "nobody", "m365", "x").returncode != 0

    r = cli("sources", "add", "docs", "--kind", "local", "--config-json", json.dumps({"path": "docs", "acl": {}}))
    assert r.returncode == 2 and "absolute" in r.stderr
    r = cli("sources", "add", "docs", "--kind", "local", "--schedule", "0",
            "--config-json", json.dumps({"path": str(root), "acl": {"": ["ext:m365:0b1c-oid"]}}))
    assert r.returncode == 0, r.stderr
    r = cli("sources", "sync", "docs", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"]["added"] == 1
    listed = json.loads(cli("sources", "list", "--json").stdout)
    assert [(s["name"], s["state"], s["items"]) for s in listed] == [("docs", "done", {"indexed": 1})]
    assert cli("sources", "check", "docs").stdout.startswith("ok: folder")
    r = cli("search", "invoices archived", "--json")
    assert r.returncode == 0
    r = cli("sources", "remove", "docs", "--yes")
    assert r.returncode == 0 and "1 documents" in r.stdout
    assert json.loads(cli("sources", "list", "--json").stdout) == []
    assert cli("users", "unlink", "ana", "ext:m365:0b1c-oid").returncode == 0
