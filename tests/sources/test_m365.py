"""SharePoint / OneDrive (Microsoft 365) sources against a local Microsoft Graph double (fake_graph.py).

Everything goes over real HTTP on 127.0.0.1: the token endpoint, Graph delta, 302 downloads from a
second origin, permissions and group members. Scenario tests go through ``svc.sources`` and the
real sync runner; a few connector-level tests check what the runner cannot see (no Authorization
header on the download URL, the streaming size cap, MSAL on an https authority).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from souverain.documents import AccessFilter, content_hash
from souverain.service import Souverain
from souverain.sources.base import ConnectorContext, ItemError, ResyncRequired, SourceError, SourceItem
from souverain.sources.http import HttpClient, RetryPolicy
from souverain.sources.m365 import M365Connector, M365Settings
from souverain.sources.m365_permissions import map_permissions
from souverain.sources.manager import SourceConfigError
from souverain.sources.secrets import SecretResolver

from .crash import add_source, assert_index_equals, cli_env, resume_sync, sync_and_kill
from .fake_graph import FakeGraph

SITE = "contoso.sharepoint.com:/sites/hr"
SECRET_ENV = "M365_TEST_CLIENT_SECRET"


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    with FakeGraph(page_size=4) as g:
        monkeypatch.setenv(SECRET_ENV, g.client_secret)
        yield g


def config(g: FakeGraph, **kw: Any) -> dict[str, Any]:
    return {"tenant_id": g.tenant_id, "client_id": g.client_id, "client_secret": f"env:{SECRET_ENV}",
            "authority_url": g.authority_url, "graph_url": g.graph_url, "sites": [SITE], **kw}


def connector(g: FakeGraph, http: HttpClient | None = None, max_bytes: int = 10**6, **kw: Any) -> M365Connector:
    settings = M365Settings.model_validate(config(g, **kw))
    return M365Connector(settings, ConnectorContext(http or HttpClient(), SecretResolver({SECRET_ENV: g.client_secret}),
                                                    max_bytes))


def drain(conn: M365Connector, cursor: str | None = None) -> tuple[list[Any], str]:
    changes: list[Any] = []
    while True:
        page = conn.changes(cursor)
        changes += page.changes
        cursor = page.cursor
        if not page.more:
            return changes, cursor


def titles(app: Souverain, query: str, access: AccessFilter) -> set[str]:
    return {h.title for h in app.search(query, access, mode="lexical").hits}


def everyone(g: FakeGraph) -> AccessFilter:
    return AccessFilter.for_principals({f"ext:m365:tenant:{g.tenant_id}"})


def org_link() -> list[dict[str, Any]]:
    return [{"id": "org", "roles": ["read"], "link": {"scope": "organization", "type": "view"}}]


def key(item: Any) -> str:
    return f"{item.drive_id}/{item.id}"


def hr_site(g: FakeGraph) -> Any:
    site = g.add_site("contoso.sharepoint.com", "/sites/hr", libraries=("Documents", "Board"))
    for d in g.drives.values():
        d.default_permissions = org_link()
    return site


# -- settings and permission mapping ---------------------------------------------------------------


def test_settings_are_validated(graph: FakeGraph) -> None:
    ok = M365Settings.model_validate(config(graph, sites=["https://contoso.sharepoint.com/sites/HR%20Team"],
                                            folders=["/HR/Policies/"]))
    assert ok.sites == ["contoso.sharepoint.com:/sites/HR Team"] and ok.folders == ["HR/Policies"]
    bad: list[dict[str, Any]] = [{"sites": ["contoso.sharepoint.com/sites/hr"]}, {"sites": [], "onedrive_users": []},
           {"client_secret": "plain-secret"}, {"graph_url": "http://graph.example.com/v1.0"},
           {"libraries": {"other.sharepoint.com:/sites/x": ["Documents"]}}, {"folders": ["HR/../Finance"]},
           {"tenant_id": "../evil"}, {"unknown": 1}]
    for override in bad:
        with pytest.raises(ValueError):
            M365Settings.model_validate(config(graph, **override))


def test_permission_mapping_follows_the_documented_shapes() -> None:
    tid = "t-1"
    perms: list[dict[str, Any]] = [
        {"id": "1", "roles": ["write"], "grantedToV2": {"user": {"id": "u-1"}, "siteUser": {"id": "7"}}},
        {"id": "2", "roles": ["read"], "grantedToV2": {"group": {"id": "g-1"}}},
        {"id": "3", "roles": ["owner"], "grantedToV2": {"siteGroup": {"id": "3", "displayName": "HR Owners"}}},
        {"id": "4", "roles": ["read"], "link": {"scope": "users"},
         "grantedToIdentitiesV2": [{"user": {"id": "u-2"}}, {"group": {"id": "g-2"}}]},
        {"id": "5", "roles": ["read"], "link": {"scope": "organization", "type": "view"}},
        {"id": "6", "roles": ["read"], "link": {"scope": "existingAccess"}, "grantedToIdentitiesV2": [{"user": {"id": "x"}}]},
        {"id": "7", "roles": ["write"], "grantedTo": {"user": {"id": "u-old"}}},  # deprecated shape only
        {"id": "8", "roles": ["read"], "grantedTo": {"user": {"id": "ignored"}}, "grantedToV2": {"user": {"id": "u-3"}}},
        {"id": "9", "roles": ["sp.view only"], "grantedToV2": {"user": {"id": "viewer"}}},
        {"id": "10", "roles": ["read"], "invitation": {"email": "guest@example.com", "signInRequired": True}},
    ]
    assert set(map_permissions(perms, tid, "site-1")) == {
        "ext:m365:u-1", "ext:m365:group:g-1", "ext:m365:sitegroup:site-1:3", "ext:m365:u-2", "ext:m365:group:g-2",
        f"ext:m365:tenant:{tid}", "ext:m365:u-old", "ext:m365:u-3"}
    assert map_permissions([{"roles": ["read"], "link": {"scope": "anonymous", "type": "view"}}], tid) == ("public",)
    assert map_permissions([], tid) == ()


# -- scenarios through svc.sources -----------------------------------------------------------------


def test_initial_sync_then_add_modify_rename_move_delete(app: Souverain, graph: FakeGraph) -> None:
    g = graph
    hr_site(g)
    docs, board = g.drive("Documents"), g.drive("Board")
    travel = g.add_file(docs, "Policies/travel.md", "# Travel\nTrain tickets are reimbursed in second class.")
    g.add_file(docs, "Policies/leave.txt", "Parental leave lasts sixteen weeks.")
    minutes = g.add_file(board, "2024/minutes.txt", "The board approved the new canteen.")
    upn = "alice@contoso.com"
    g.add_user(upn)
    notes = g.add_file(g.user_drive(upn), "notes.txt", "Alice keeps the fire drill checklist.")
    g.user_drive(upn).default_permissions = org_link()
    app.sources.add("m365", "m365", config(g, onedrive_users=[upn]))

    r = app.sources.sync("m365")
    assert r.status == "done", r.error
    assert r.full_pass and r.counts["added"] == 4 and r.counts["failed"] == 0
    uris = app.sources.item_uris("m365")
    assert set(uris) == {key(travel), key(g.item_at(docs, "Policies/leave.txt")), key(minutes), key(notes)}
    assert sorted(app.store.document_uris(source="m365")) == sorted(uris.values())
    assert titles(app, "train tickets", everyone(g)) == {"travel"}
    assert titles(app, "fire drill", everyone(g)) == {"notes"}
    assert titles(app, "train tickets", AccessFilter.for_principals({"ext:m365:someone"})) == set()
    doc = app.store.get_document(uris[key(travel)])
    assert doc is not None and doc.sha256 == content_hash(travel.content)

    r = app.sources.sync("m365")  # nothing changed: one delta call per drive, nothing fetched
    assert r.status == "done" and not r.full_pass and sum(r.counts.values()) == 0

    g.update_file(travel, "# Travel\nTaxis are reimbursed after 22:00.")
    added = g.add_file(docs, "Policies/new/kitchen.txt", "The kitchen is cleaned on Fridays.")
    g.rename(minutes, "board-minutes.txt")
    g.move_item(notes, "Archive")
    g.delete_item(g.item_at(docs, "Policies/leave.txt"))
    r = app.sources.sync("m365")
    assert r.status == "done", r.error
    assert (r.counts["added"], r.counts["deleted"]) == (1, 1)
    assert r.counts["updated"] == 2, r.counts  # the edit and the rename (same id, new title); the move: unchanged
    assert titles(app, "taxis reimbursed", everyone(g)) == {"travel"}
    assert titles(app, "train tickets", everyone(g)) == set()
    assert titles(app, "kitchen cleaned", everyone(g)) == {"kitchen"}
    assert titles(app, "canteen", everyone(g)) == {"board-minutes"}
    assert titles(app, "sixteen weeks", everyone(g)) == set()
    uris = app.sources.item_uris("m365")
    assert set(uris) == {key(travel), key(added), key(minutes), key(notes)}
    assert sorted(app.store.document_uris(source="m365")) == sorted(uris.values())
    assert app.sources.get("m365")["last_error"] is None

    # the allow-list is narrowed: the cursor no longer matches, a full pass prunes what left the scope
    app.sources.update("m365", settings=config(g, libraries={SITE: ["Documents"]}))
    r = app.sources.sync("m365")
    assert r.status == "done" and r.full_pass and r.counts["deleted"] == 2 and r.counts["unchanged"] == 2
    assert set(app.sources.item_uris("m365")) == {key(travel), key(added)}
    assert sorted(app.store.document_uris(source="m365")) == sorted(app.sources.item_uris("m365").values())


def test_allow_list_limits_what_is_requested_and_moves_out_remove(app: Souverain, graph: FakeGraph) -> None:
    g = graph
    hr_site(g)
    other = g.add_site("contoso.sharepoint.com", "/sites/finance")
    g.add_file(g.drive("Documents", other), "salaries.txt", "Finance salaries.")
    docs, board = g.drive("Documents"), g.drive("Board")
    inside = g.add_file(docs, "HR/Policies/travel.txt", "Train tickets are reimbursed.")
    deep = g.add_file(docs, "HR/Policies/2024/remote.txt", "Remote work is allowed twice a week.")
    outside = g.add_file(docs, "HR/Secret/raises.txt", "Confidential raises for next year.")
    g.add_file(board, "HR/Policies/board.txt", "Board-only policy.")
    bob_drive = g.user_drive(g.add_user("bob@contoso.com") and "bob@contoso.com")
    app.sources.add("hr", "m365", config(g, libraries={SITE: ["Documents"]}, folders=["hr/policies"]))

    r = app.sources.sync("hr")
    assert r.status == "done", r.error
    assert set(app.sources.item_uris("hr")) == {key(inside), key(deep)}
    paths = g.requested() + g.requested("download")
    for item in (outside, *g.live_files(board), *g.live_files(g.drive("Documents", other))):
        assert not [p for p in paths if item.id in p], item.name  # never downloaded nor asked for permissions
    assert not [p for p in paths if board.id in p or "finance" in p or bob_drive.id in p]

    # a file moved out is removed; a folder renamed across the boundary resyncs; moved back, it returns
    g.move_item(inside, "HR/Secret")
    r = app.sources.sync("hr")
    assert r.counts["deleted"] == 1 and set(app.sources.item_uris("hr")) == {key(deep)}
    folder = g.items[str(g.item_at(docs, "HR/Policies/2024/remote.txt").parent_id)]
    g.move_item(folder, "HR/Secret")
    r = app.sources.sync("hr")
    assert r.status == "done" and r.full_pass and r.counts["deleted"] == 1
    assert app.sources.item_uris("hr") == {}
    g.move_item(folder, "HR/Policies")
    g.move_item(outside, "HR/Policies")
    r = app.sources.sync("hr")
    assert r.status == "done" and r.counts["added"] == 2
    assert set(app.sources.item_uris("hr")) == {key(deep), key(outside)}
    assert sorted(app.store.document_uris(source="hr")) == sorted(app.sources.item_uris("hr").values())


def test_group_permissions_follow_graph_membership(app: Souverain, graph: FakeGraph) -> None:
    g = graph
    hr_site(g)
    docs = g.drive("Documents")
    alice_oid, carol_oid = g.add_user("alice@contoso.com", False), g.add_user("carol@contoso.com", False)
    inner = g.add_group([("user", alice_oid)])
    hr_group = g.add_group([("group", inner), ("user", carol_oid)])
    salaries = g.add_file(docs, "salaries.txt", "Salary bands are reviewed every March.",
                          permissions=[{"roles": ["read"], "grantedToV2": {"group": {"id": hr_group, "displayName": "HR"}}}])
    menu = g.add_file(docs, "menu.txt", "The canteen serves lasagne on Tuesdays.", permissions=[])
    ident = app.identity
    alice, dave = ident.create_user("alice"), ident.create_user("dave")
    ident.add_external_principal(alice.id, "m365", alice_oid)
    ident.add_external_principal(dave.id, "m365", f"tenant:{g.tenant_id}")
    app.sources.add("hr", "m365", config(g))

    assert app.sources.sync("hr").status == "done"
    assert titles(app, "salary bands", ident.access_filter_for(alice.id)) == {"salaries"}
    assert titles(app, "salary bands", ident.access_filter_for(dave.id)) == set()
    assert titles(app, "canteen lasagne", ident.access_filter_for(dave.id)) == set()  # no permission: invisible

    g.remove_member(inner, alice_oid)  # Alice leaves the (nested) group in Entra
    g.set_permissions(menu, org_link())  # the menu is shared with the whole organisation
    r = app.sources.sync("hr")
    assert r.status == "done" and r.counts["permissions_updated"] == 1 and r.counts["updated"] == 0
    assert titles(app, "salary bands", ident.access_filter_for(alice.id)) == set()
    assert titles(app, "canteen lasagne", ident.access_filter_for(dave.id)) == {"menu"}

    g.add_member(hr_group, alice_oid)
    g.set_permissions(menu, [{"roles": ["read"], "grantedToV2": {"user": {"id": carol_oid}}}])  # org link revoked
    assert app.sources.sync("hr").status == "done"
    assert titles(app, "salary bands", ident.access_filter_for(alice.id)) == {"salaries"}
    assert titles(app, "canteen lasagne", ident.access_filter_for(dave.id)) == set()
    assert titles(app, "canteen lasagne", AccessFilter.for_principals({f"ext:m365:{carol_oid}"})) == {"menu"}
    assert salaries.id in "".join(g.requested())

    # a folder shared with a group: the files inside inherit it
    plans = g.add_file(docs, "Board/plans.txt", "The merger plans are secret.")
    folder = g.items[str(plans.parent_id)]
    assert app.sources.sync("hr").status == "done"
    assert titles(app, "merger plans", ident.access_filter_for(alice.id)) == set()
    g.set_permissions(folder, [{"roles": ["write"], "grantedToV2": {"group": {"id": hr_group}}}])
    r = app.sources.sync("hr")
    assert r.counts["permissions_updated"] == 1
    assert titles(app, "merger plans", ident.access_filter_for(alice.id)) == {"plans"}


def test_throttling_is_waited_out_and_one_bad_item_fails_alone(app: Souverain, graph: FakeGraph) -> None:
    g = graph
    hr_site(g)
    docs = g.drive("Documents")
    files = [g.add_file(docs, f"doc{i}.txt", f"Document number {i} about topic{i}.") for i in range(6)]
    g.fail_download(files[2], 404)
    g.fail_download(files[3], 403)
    g.throttle_next(2, 429, retry_after=1, path_contains="/root/delta")
    g.throttle_next(1, 503, retry_after=1, path_contains="/permissions")
    app.sources.add("hr", "m365", config(g))
    t0 = time.monotonic()
    r = app.sources.sync("hr")
    assert r.status == "done", r.error
    assert time.monotonic() - t0 >= 2.5  # three Retry-After: 1 waits were honoured
    assert r.http["throttled"] == 3
    assert r.counts["added"] == 4 and r.counts["failed"] == 2
    failed = {rep.uri.rsplit("%2F", 1)[-1]: rep.reason for rep in r.reports if rep.status == "failed"}
    assert failed == {files[2].id: "not_found", files[3].id: "forbidden"}
    assert titles(app, "topic5", everyone(g)) == {"doc5"}


def test_a_failed_download_is_retried_by_the_next_incremental_sync(app: Souverain, graph: FakeGraph) -> None:
    g = graph
    hr_site(g)
    docs = g.drive("Documents")
    g.add_file(docs, "ok.txt", "A document about bicycles.")
    locked = g.add_file(docs, "Policies/locked.txt", "The fire drill happens every March.")
    g.fail_download(locked, 423)  # SharePoint answers 423 Locked while a file is checked out
    ident = app.identity
    dave = ident.create_user("dave")
    ident.add_external_principal(dave.id, "m365", f"tenant:{g.tenant_id}")
    app.sources.add("hr", "m365", config(g))

    r = app.sources.sync("hr")
    assert r.status == "done", r.error
    assert (r.counts["added"], r.counts["failed"]) == (1, 1)
    assert [(rep.uri.rsplit("%2F", 1)[-1], rep.reason) for rep in r.reports if rep.status == "failed"] == \
        [(locked.id, "download_failed")]
    assert app.sources.get("hr")["items"] == {"indexed": 1, "failed": 1}

    g.clear_download_fault(locked)  # the file itself is unchanged: delta will not mention it again
    seq = g.seq
    r = app.sources.sync("hr")
    assert g.seq == seq  # (the double's change log did not move)
    assert r.status == "done", r.error
    # never stored before: the retried file counts as added
    assert not r.full_pass and r.counts["added"] == 1 and r.counts["updated"] == r.counts["failed"] == 0, r.counts
    assert f"/v1.0/drives/{docs.id}/items/{locked.id}" in g.requested()
    assert titles(app, "fire drill", ident.access_filter_for(dave.id)) == {"locked"}
    assert titles(app, "fire drill", AccessFilter.for_principals({"ext:m365:someone-else"})) == set()
    doc = app.store.get_document(app.sources.item_uris("hr")[key(locked)])
    assert doc is not None and doc.sha256 == content_hash(locked.content)
    assert app.sources.get("hr")["items"] == {"indexed": 2}

    before = len(g.requested())
    r = app.sources.sync("hr")  # nothing left to retry: no item is asked for
    assert r.status == "done" and sum(r.counts.values()) == 0
    assert not [p for p in g.requested()[before:] if "/items/" in p]


def test_a_failed_item_deleted_before_the_retry_is_forgotten(app: Souverain, graph: FakeGraph) -> None:
    g = graph
    hr_site(g)
    docs = g.drive("Documents")
    keep = g.add_file(docs, "keep.txt", "Kept document about bicycles.")
    edited = g.add_file(docs, "edited.txt", "First draft about unicycles.")
    app.sources.add("hr", "m365", config(g))
    assert app.sources.sync("hr").counts["added"] == 2

    g.update_file(edited, "Second draft about tandems.")
    g.fail_download(edited, 423)
    never = g.add_file(docs, "never.txt", "Never downloaded, about scooters.")
    g.fail_download(never, 423)
    r = app.sources.sync("hr")
    assert r.status == "done" and r.counts["failed"] == 2, r.counts
    assert titles(app, "unicycles", everyone(g)) == {"edited"}  # the older version stays until the retry
    assert app.sources.get("hr")["items"] == {"indexed": 1, "failed": 2}

    # both are deleted while failed; the change log misses it, so only the retry's GET (404) can tell
    g.delete_item(edited, unreported=True)
    g.delete_item(never, unreported=True)
    before = len(g.requested())
    r = app.sources.sync("hr")
    assert r.status == "done", r.error
    assert {f"/v1.0/drives/{docs.id}/items/{i.id}" for i in (edited, never)} <= set(g.requested()[before:])
    assert r.counts["deleted"] == 1 and r.counts["failed"] == 0 and r.counts["added"] == 0, r.counts
    assert set(app.sources.item_uris("hr")) == {key(keep)}
    assert app.sources.get("hr")["items"] == {"indexed": 1}
    assert sorted(app.store.document_uris(source="hr")) == sorted(app.sources.item_uris("hr").values())
    assert titles(app, "unicycles", everyone(g)) == set()

    # a failed file whose deletion delta does report is simply removed; no GET is needed for it
    gone = g.add_file(docs, "gone.txt", "Gone document about skates.")
    g.fail_download(gone, 423)
    assert app.sources.sync("hr").counts["failed"] == 1
    g.delete_item(gone)
    before = len(g.requested())
    r = app.sources.sync("hr")
    assert r.status == "done" and r.counts["failed"] == 0
    assert app.sources.get("hr")["items"] == {"indexed": 1}
    assert not [p for p in g.requested()[before:] if gone.id in p]


def test_expired_delta_token_resyncs_and_applies_deletions_missed_meanwhile(app: Souverain, graph: FakeGraph) -> None:
    g = graph
    hr_site(g)
    docs = g.drive("Documents")
    keep = g.add_file(docs, "keep.txt", "Kept document about bicycles.")
    gone = g.add_file(docs, "gone.txt", "Removed document about unicycles.")
    app.sources.add("hr", "m365", config(g))
    assert app.sources.sync("hr").status == "done"
    assert len(app.sources.item_uris("hr")) == 2

    g.delete_item(gone)
    late = g.add_file(docs, "late.txt", "Late document about tricycles.")
    g.expire_delta_tokens()  # the stored deltaLink now answers 410 Gone
    r = app.sources.sync("hr")
    assert r.status == "done", r.error
    assert r.full_pass and r.counts["deleted"] == 1 and r.counts["added"] == 1
    assert set(app.sources.item_uris("hr")) == {key(keep), key(late)}
    assert titles(app, "unicycles", everyone(g)) == set()
    assert sorted(app.store.document_uris(source="hr")) == sorted(app.sources.item_uris("hr").values())


def test_prune_removes_a_deletion_the_change_feed_missed(app: Souverain, graph: FakeGraph) -> None:
    g = graph
    hr_site(g)
    docs = g.drive("Documents")
    keep = g.add_file(docs, "HR/keep.txt", "Kept document about bicycles.")
    lost = g.add_file(docs, "HR/lost.txt", "Lost document about unicycles.")
    g.add_file(docs, "Other/out.txt", "Out of scope.")
    app.sources.add("hr", "m365", config(g, folders=["HR"]))
    assert app.sources.sync("hr").status == "done"
    assert app.sources.sync("hr").pruned  # the first prune is due at once, then daily
    g.delete_item(lost, unreported=True)
    r = app.sources.sync("hr")
    assert r.status == "done" and not r.pruned and r.counts["deleted"] == 0  # delta did not say
    r = app.sources.sync("hr", prune=True)
    assert r.status == "done" and r.pruned and r.counts["deleted"] == 1
    assert set(app.sources.item_uris("hr")) == {key(keep)}
    assert titles(app, "unicycles", everyone(g)) == set()


def test_bad_credentials_fail_clearly_and_keep_what_is_stored(app: Souverain, graph: FakeGraph,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    g = graph
    hr_site(g)
    g.add_file(g.drive("Documents"), "a.txt", "Alpha document about otters.")
    app.sources.add("hr", "m365", config(g))
    assert app.sources.sync("hr").status == "done"
    before = app.store.document_uris(source="hr")

    wrong = "Wrong-s3cret-value-never-to-be-logged"
    monkeypatch.setenv(SECRET_ENV, wrong)
    caplog.set_level(logging.DEBUG)
    r = app.sources.sync("hr")
    assert r.status == "failed" and r.error.startswith("auth_failed:"), r.error
    assert "invalid_client" in r.error and "AADSTS7000215" in r.error
    assert app.sources.get("hr")["last_error"] == r.error
    assert app.store.document_uris(source="hr") == before
    with pytest.raises(SourceError) as exc:
        app.sources.check("hr")
    assert exc.value.reason == "auth_failed"
    for text in (r.error, str(exc.value), caplog.text, json.dumps(app.sources.get("hr"))):
        assert wrong not in text and g.client_secret not in text

    with pytest.raises(SourceConfigError):
        app.sources.add("bad", "m365", config(g, client_secret=wrong))  # a literal secret is refused
    monkeypatch.delenv(SECRET_ENV)
    r = app.sources.sync("hr")
    assert r.status == "failed" and r.error.startswith("missing_credentials:")


def test_unknown_site_or_library_is_a_clear_error(app: Souverain, graph: FakeGraph) -> None:
    hr_site(graph)
    app.sources.add("nosite", "m365", config(graph, sites=["contoso.sharepoint.com:/sites/nope"]))
    r = app.sources.sync("nosite")
    assert r.status == "failed" and r.error.startswith("not_found:") and "itemNotFound" in r.error
    app.sources.add("nolib", "m365", config(graph, libraries={SITE: ["Contracts"]}))
    r = app.sources.sync("nolib")
    assert r.status == "failed" and "no document library named Contracts" in r.error


# -- connector-level checks ------------------------------------------------------------------------


def test_download_url_gets_no_authorization_and_size_is_capped(graph: FakeGraph) -> None:
    g = graph
    hr_site(g)
    big = g.add_file(g.drive("Documents"), "big.txt", "x" * 5000)
    small = g.add_file(g.drive("Documents"), "small.txt", "tiny")
    conn = connector(g, max_bytes=1000)
    items = {c.item.name: c.item for c in drain(conn)[0] if c.item}
    assert conn.fetch(items["small.txt"]) == b"tiny"
    with pytest.raises(ItemError) as exc:
        conn.fetch(items["big.txt"])  # the listed size is over the limit: not even requested
    assert exc.value.reason == "file_too_large"
    assert not [p for p in g.requested() if big.id in p]
    lying = SourceItem(items["big.txt"].id, "big.txt", items["big.txt"].path, "v", size=None)
    with pytest.raises(ItemError) as exc:
        conn.fetch(lying)  # no size known: the stream is cut at the limit
    assert exc.value.reason == "file_too_large"
    downloads = [r for r in g.requests if r.server == "download"]
    assert [r.path.rsplit("/", 1)[-1] for r in downloads] == [small.id, big.id]
    assert all(r.authorization == "" for r in downloads)
    assert all(r.authorization.startswith("Bearer ") for r in g.requests if r.server == "graph" and "/v1.0/" in r.path)


def test_item_by_id_matches_the_delta_listing_and_respects_the_allow_list(graph: FakeGraph) -> None:
    g = graph
    site = hr_site(g)
    docs, board = g.drive("Documents"), g.drive("Board")
    inside = g.add_file(docs, "HR Team/Policies/2024/travel & leave.txt", "Train tickets.")
    outside = g.add_file(docs, "HR Team/Secret/raises.txt", "Confidential.")
    at_root = g.add_file(docs, "root.txt", "At the root.")
    other_lib = g.add_file(board, "HR Team/Policies/board.txt", "Board only.")
    gone = g.add_file(docs, "HR Team/Policies/gone.txt", "Deleted.")
    g.delete_item(gone)
    conn = connector(g, libraries={SITE: ["Documents"]}, folders=["hr team/policies"])
    listed = {c.item_id: c.item for c in drain(conn)[0] if c.item}
    assert set(listed) == {key(inside)}
    assert conn.item(key(inside)) == listed[key(inside)]  # the same SourceItem, principals None included
    assert listed[key(inside)].path == "hr/Documents/HR Team/Policies/2024/travel & leave.txt"
    folder = g.items[str(inside.parent_id)]
    for item_id in (key(outside), key(at_root), key(other_lib), key(gone), key(folder), f"{docs.id}/01NOPE",
                    f"{docs.id}/{docs.root_id}", "unknown-drive/x", "no-slash"):
        assert conn.item(item_id) is None, item_id
    assert not [p for p in g.requested() if board.id in p]  # a drive outside the allow-list is never asked

    # without parentReference.path the parents are read by id (once per folder for the connector's life)
    g.get_omits_path = True
    fresh = connector(g, libraries={SITE: ["Documents"]}, folders=["hr team/policies"])
    before = len(g.requested())
    assert fresh.item(key(inside)) == listed[key(inside)]
    assert fresh.item(key(outside)) is None
    asked = [p.rsplit("/", 1)[-1] for p in g.requested()[before:] if "/items/" in p]
    chain = [inside.id, inside.parent_id, folder.parent_id, g.items[str(folder.parent_id)].parent_id, docs.root_id]
    assert asked[:5] == chain and asked[5:] == [outside.id, outside.parent_id]

    # without folders nothing is walked; the path shown is the documented one
    g.get_omits_path = False
    plain = connector(g, sites=[SITE])
    got = plain.item(key(at_root))
    assert got is not None and got.path == "hr/Documents/root.txt" and got.version.startswith('"c:')
    assert plain.item(key(other_lib)) is not None and site["id"] == docs.site_id


def test_token_is_cached_and_renewed_once_after_401(graph: FakeGraph) -> None:
    g = graph
    hr_site(g)
    for i in range(10):
        g.add_file(g.drive("Documents"), f"f{i}.txt", f"file {i}")
    conn = connector(g)
    changes, cursor = drain(conn)
    assert len([conn.permissions(c.item) for c in changes if c.item]) == 10
    assert g.tokens_issued == 1
    g.expire_access_tokens()
    assert conn.changes(cursor).changes == []
    assert g.tokens_issued == 2
    g.expire_delta_tokens()
    with pytest.raises(ResyncRequired):
        conn.changes(cursor)


def test_a_full_pass_is_forced_after_full_resync_hours(graph: FakeGraph) -> None:
    hr_site(graph)
    graph.add_file(graph.drive("Documents"), "a.txt", "alpha")
    conn = connector(graph, full_resync_hours=1)
    changes, cursor = drain(conn)
    assert [c.item.name for c in changes if c.item] == ["a.txt"]
    assert conn.changes(cursor).changes == []  # caught up, the last full pass is recent
    state = json.loads(cursor)
    state["full_at"] = "2000-01-01T00:00:00+00:00"
    with pytest.raises(ResyncRequired):
        conn.changes(json.dumps(state))
    with pytest.raises(ResyncRequired):  # a cursor of another allow-list
        connector(graph, libraries={SITE: ["Documents"]}).changes(cursor)


class _ToLoopback(httpx.HTTPTransport):
    """Routes https://login.microsoftonline.com and https://graph.microsoft.com to the local double."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = httpx.URL(base)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host in ("login.microsoftonline.com", "graph.microsoft.com"):
            request.headers["X-Forwarded-Proto"] = "https"
            request.url = request.url.copy_with(scheme="http", host=self.base.host, port=self.base.port)
        return super().handle_request(request)


def test_msal_is_used_for_https_authorities(graph: FakeGraph, caplog: pytest.LogCaptureFixture) -> None:
    g = graph
    caplog.set_level(logging.DEBUG)
    hr_site(g)
    f = g.add_file(g.drive("Documents"), "a.txt", "alpha")
    http = HttpClient(transport=_ToLoopback(g.base))
    conn = connector(g, http=http, authority_url="https://login.microsoftonline.com",
                     graph_url="https://graph.microsoft.com/v1.0")
    assert conn.check().startswith("2 drive(s): ") and "hr/Board" in conn.check()
    item = next(c.item for c in drain(conn)[0] if c.item)
    assert conn.fetch(item) == f.content
    paths = g.requested()
    assert f"/{g.tenant_id}/v2.0/.well-known/openid-configuration" in paths  # MSAL's tenant discovery
    assert f"/{g.tenant_id}/oauth2/v2.0/token" in paths and g.tokens_issued == 1
    bad = M365Settings.model_validate(config(g, authority_url="https://login.microsoftonline.com",
                                             graph_url="https://graph.microsoft.com/v1.0"))
    wrong = M365Connector(bad, ConnectorContext(http, SecretResolver({SECRET_ENV: "nope"})))
    with pytest.raises(SourceError) as exc:
        wrong.check()
    assert exc.value.reason == "auth_failed" and "invalid_client" in str(exc.value) and "nope" not in str(exc.value)
    assert g.client_secret not in caplog.text


def test_without_msal_an_https_authority_asks_for_the_extra(graph: FakeGraph, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "msal", None)  # as if 'souverain[m365]' was not installed
    conn = connector(graph, authority_url="https://login.microsoftonline.com")
    with pytest.raises(SourceError) as exc:
        conn.check()
    assert exc.value.reason == "missing_extra" and "souverain[m365]" in str(exc.value)


def test_throttling_that_never_ends_fails_the_sync_as_throttled(graph: FakeGraph) -> None:
    g = graph
    hr_site(g)
    g.throttle_next(3, 429, retry_after=0)
    conn = connector(g, http=HttpClient(RetryPolicy(attempts=3, base_delay_s=0.01)))
    with pytest.raises(SourceError) as exc:
        conn.check()
    assert exc.value.reason == "throttled"


# -- crash safety: SIGKILL in the middle of a 2,000-document sync -----------------------------------


def test_sigkill_mid_sync_then_resume_ends_equal_to_the_source(tmp_path: Path, graph: FakeGraph) -> None:
    g = graph
    g.page_size = 200
    hr_site(g)
    docs = g.drive("Documents")
    for i in range(2000):
        g.add_file(docs, f"dept{i % 7}/team{i % 13}/note-{i:04}.txt",
                   f"Note {i}: the quarterly figure for unit {i} is {i * 37 % 1000}.\n")
    data, env = tmp_path / "data", cli_env()
    add_source(data, "big", "m365", config(g), env)
    killed_at = sync_and_kill(data, "big", env)

    # the source changes while the sync is down: one file gone, one added, one edited
    g.delete_item(g.item_at(docs, "dept0/team0/note-0000.txt"))
    g.add_file(docs, "late.txt", "A late addition about the canteen menu.")
    g.update_file(g.item_at(docs, "dept3/team3/note-0003.txt"), "Edited after the crash: the budget doubled.")

    result, _ = resume_sync(data, "big", env)
    assert result["counts"]["added"] + killed_at >= 2000
    files = {key(f): f.content for f in g.live_files(docs)}
    assert len(files) == 2000
    assert_index_equals(data, "big", files)
