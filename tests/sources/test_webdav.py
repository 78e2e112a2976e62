"""Nextcloud / WebDAV sources against a real wsgidav server (servers.py) on 127.0.0.1.

Scenario tests go through ``svc.sources`` and the real sync runner; connector-level tests check what
the runner cannot see (the listing token, the share mapping, the size cap, error reasons).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from souverain.documents import AccessFilter
from souverain.service import Souverain
from souverain.sources.base import ConnectorContext, ItemError, SourceError, SourceItem
from souverain.sources.http import HttpClient
from souverain.sources.manager import SourceConfigError
from souverain.sources.secrets import SecretResolver
from souverain.sources.webdav import WebDAVConnector, WebDAVSettings

from .crash import add_source, assert_index_equals, cli_env, resume_sync, sync_and_kill
from .servers import WebDAVServer

PW_ENV = "WEBDAV_TEST_PASSWORD"
MOUNT = "/remote.php/dav/files/alice"


@pytest.fixture
def dav(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDAVServer]:
    with WebDAVServer(tmp_path / "nextcloud") as srv:
        monkeypatch.setenv(PW_ENV, srv.password)
        srv.write("Team/travel.md", "# Travel\nTrain tickets are reimbursed in second class.")
        srv.write("Team/HR/salaries.txt", "Salary bands for engineers are reviewed every March.")
        srv.write("Team/HR/Deep/onboarding.txt", "New hires get a laptop on their first morning.")
        srv.write("Private/diary.txt", "The private diary mentions the zeppelin project.")
        srv.write("Teamwork/lookalike.txt", "A folder whose name starts like Team: the zeppelin again.")
        yield srv


def config(srv: WebDAVServer, **kw: Any) -> dict[str, Any]:
    return {"base_url": srv.base_url, "username": srv.user, "password": f"env:{PW_ENV}", "folders": ["Team"],
            "acl": {"": ["public"]}, **kw}


def connector(srv: WebDAVServer, max_bytes: int = 10**6, password: str | None = None, **kw: Any) -> WebDAVConnector:
    settings = WebDAVSettings.model_validate(config(srv, **kw))
    return WebDAVConnector(settings, ConnectorContext(HttpClient(), SecretResolver({PW_ENV: password or srv.password}),
                                                      max_bytes))


def titles(app: Souverain, query: str, access: AccessFilter | None = None) -> set[str]:
    return {h.title.lower() for h in app.search(query, access or AccessFilter.public(), mode="lexical").hits}


def list_all(conn: WebDAVConnector) -> list[SourceItem]:
    items: list[SourceItem] = []
    token: str | None = None
    while True:
        page = conn.list_page(token)
        items.extend(page.items)
        token = page.next_token
        if token is None:
            return items


def dav_requests(srv: WebDAVServer) -> list[str]:
    assert srv.faults is not None
    return srv.faults.paths()


# -- scenarios through the sync runner -----------------------------------------------------------


def test_sync_follows_additions_changes_renames_deletions_and_moves_out(app: Souverain, dav: WebDAVServer) -> None:
    app.sources.add("cloud", "webdav", config(dav))
    r = app.sources.sync("cloud")
    assert r.status == "done", r.error
    assert r.counts["added"] == 3 and r.counts["failed"] == 0
    assert set(app.sources.item_uris("cloud")) == {"Team/travel.md", "Team/HR/salaries.txt", "Team/HR/Deep/onboarding.txt"}
    assert titles(app, "train tickets") == {"travel"}
    assert titles(app, "zeppelin") == set()  # Private/ and Teamwork/ are outside the allow-list

    r = app.sources.sync("cloud")
    assert r.counts["unchanged"] == 3 and r.counts["added"] == r.counts["updated"] == 0

    dav.write("Team/travel.md", "# Travel\nTaxis are reimbursed after 22:00 only.")
    dav.write("Team/Équipe été/kitchen rota.txt", "The kitchen is cleaned on Fridays.")
    (dav.root / "Team/HR/salaries.txt").rename(dav.root / "Team/HR/pay-bands.txt")
    shutil.move(dav.root / "Team/HR/Deep", dav.root / "Private/Deep")  # moved out of the allow-list
    r = app.sources.sync("cloud")
    assert r.status == "done", r.error
    assert (r.counts["updated"], r.counts["added"], r.counts["deleted"]) == (1, 2, 2)
    assert titles(app, "taxis reimbursed") == {"travel"}
    assert titles(app, "train tickets") == set()
    assert titles(app, "kitchen cleaned fridays") == {"kitchen rota"}
    assert titles(app, "salary bands") == {"pay-bands"}
    assert titles(app, "laptop first morning") == set()
    uris = app.sources.item_uris("cloud")
    assert set(uris) == {"Team/travel.md", "Team/Équipe été/kitchen rota.txt", "Team/HR/pay-bands.txt"}
    assert set(app.store.document_uris(source="cloud")) == set(uris.values())
    assert uris["Team/Équipe été/kitchen rota.txt"] == "webdav://cloud/Team%2F%C3%89quipe%20%C3%A9t%C3%A9%2Fkitchen%20rota.txt"

    (dav.root / "Team/travel.md").unlink()
    r = app.sources.sync("cloud")
    assert r.counts["deleted"] == 1 and titles(app, "taxis") == set()
    assert app.sources.get("cloud")["last_error"] is None


def test_nextcloud_fileid_makes_a_move_an_update_of_the_same_document(app: Souverain, dav: WebDAVServer) -> None:
    dav.set_fileid("Team/travel.md", 101)
    dav.set_fileid("Team/HR/salaries.txt", 102)
    app.sources.add("cloud", "webdav", config(dav))
    assert app.sources.sync("cloud").counts["added"] == 3
    uris = app.sources.item_uris("cloud")
    assert set(uris) == {"fileid:101", "fileid:102", "Team/HR/Deep/onboarding.txt"}

    dav.move("Team/HR/salaries.txt", "Team/pay bands.txt")  # a WebDAV MOVE keeps the file's properties (its id)
    r = app.sources.sync("cloud")
    assert r.status == "done", r.error
    assert (r.counts["added"], r.counts["deleted"], r.counts["failed"]) == (0, 0, 0)  # not a delete + add
    assert app.sources.item_uris("cloud") == uris
    assert len(app.store.document_uris(source="cloud")) == 3
    # same bytes under a new name: the same document, re-indexed so its title and path follow
    assert r.counts["updated"] == 1
    assert {t.lower() for t in titles(app, "salary bands")} == {"pay bands"}
    doc = app.store.get_document(uris["fileid:102"])
    assert doc is not None and doc.metadata["source_path"] == "Team/pay bands.txt"

    dav.move("Team/pay bands.txt", "Private/pay bands.txt")  # out of the allow-list: removed
    r = app.sources.sync("cloud")
    assert r.counts["deleted"] == 1 and "fileid:102" not in app.sources.item_uris("cloud")
    assert titles(app, "salary bands") == set()


def test_configured_acl_grants_then_revokes(app: Souverain, dav: WebDAVServer) -> None:
    bob = app.identity.create_user("bob")
    app.identity.add_external_principal(bob.id, "nextcloud", "bob")
    bob_access = app.identity.access_filter_for(bob.id)
    owner_only = {"Team/": ["ext:nextcloud:alice"]}
    app.sources.add("cloud", "webdav", config(dav, acl=owner_only))
    assert app.sources.sync("cloud").status == "done"
    assert titles(app, "salary bands", bob_access) == set()

    app.sources.update("cloud", settings=config(dav, acl={**owner_only, "Team/HR/": ["ext:nextcloud:bob"]}))
    r = app.sources.sync("cloud")
    assert r.counts["permissions_updated"] == 2 and r.counts["added"] == r.counts["updated"] == 0
    assert titles(app, "salary bands", bob_access) == {"salaries"}
    assert titles(app, "train tickets", bob_access) == set()

    app.sources.update("cloud", settings=config(dav, acl=owner_only))
    r = app.sources.sync("cloud")
    assert r.counts["permissions_updated"] == 2
    assert titles(app, "salary bands", bob_access) == set()


def test_nextcloud_shares_grant_then_revoke(app: Souverain, dav: WebDAVServer) -> None:
    bob, carol = app.identity.create_user("bob"), app.identity.create_user("carol")
    app.identity.add_external_principal(bob.id, "nextcloud", "bob")
    app.identity.add_external_principal(carol.id, "nextcloud", "group:finance")
    alice = app.identity.create_user("alice")
    app.identity.add_external_principal(alice.id, "nextcloud", "alice")
    app.sources.add("cloud", "webdav", config(dav, acl={}, nextcloud_shares=True))
    assert app.sources.sync("cloud").status == "done"
    assert titles(app, "salary bands", app.identity.access_filter_for(alice.id)) == {"salaries"}  # the owner
    assert titles(app, "salary bands", app.identity.access_filter_for(bob.id)) == set()

    dav.ocs.add("Team/HR", 0, "bob")  # a folder share reaches the files inside it, at any depth
    dav.ocs.add("Team/travel.md", 1, "finance")
    r = app.sources.sync("cloud")
    assert r.counts["permissions_updated"] == 3 and r.counts["added"] == r.counts["updated"] == 0
    assert titles(app, "salary bands", app.identity.access_filter_for(bob.id)) == {"salaries"}
    assert titles(app, "laptop morning", app.identity.access_filter_for(bob.id)) == {"onboarding"}
    assert titles(app, "train tickets", app.identity.access_filter_for(bob.id)) == set()
    assert titles(app, "train tickets", app.identity.access_filter_for(carol.id)) == {"travel"}

    dav.ocs.shares.clear()  # shares revoked in Nextcloud
    r = app.sources.sync("cloud")
    assert r.counts["permissions_updated"] == 3
    assert titles(app, "salary bands", app.identity.access_filter_for(bob.id)) == set()
    assert titles(app, "train tickets", app.identity.access_filter_for(carol.id)) == set()
    assert titles(app, "train tickets", app.identity.access_filter_for(alice.id)) == {"travel"}


def test_nextcloud_group_members_follow_the_server(app: Souverain, dav: WebDAVServer,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    dora = app.identity.create_user("dora")
    app.identity.add_external_principal(dora.id, "nextcloud", "dora")

    def dora_sees(query: str) -> set[str]:
        return titles(app, query, app.identity.access_filter_for(dora.id))

    def dora_groups() -> list[str]:
        return [p for p in app.identity.external_principals(dora.id)[1] if ":group:" in p]

    dav.ocs.add("Team/travel.md", 1, "finance")
    dav.ocs.add("Team/HR", 1, "hr")
    dav.ocs.groups.update({"finance": {"dora", "erin"}, "hr": {"erin"}})
    app.sources.add("cloud", "webdav", config(dav, acl={}, nextcloud_shares=True))
    r = app.sources.sync("cloud")
    assert r.status == "done", r.error
    assert dora_sees("train tickets") == {"travel"} and dora_sees("salary bands") == set()
    assert dora_groups() == ["ext:nextcloud:group:finance"]
    assert dav.faults is not None
    lookups = sorted((p, q) for _, p, q in dav.faults.log if "/cloud/groups/" in p)
    assert lookups == [("/ocs/v2.php/cloud/groups/finance/users", "format=json"),
                       ("/ocs/v2.php/cloud/groups/hr/users", "format=json")]

    dav.ocs.groups["finance"].discard("dora")  # removed from the group in Nextcloud
    r = app.sources.sync("cloud")
    assert r.status == "done" and r.counts["permissions_updated"] == 0  # the documents' ACLs did not change
    assert dora_sees("train tickets") == set() and dora_groups() == []

    dav.ocs.groups["hr"].add("dora")  # nested folders inherit the folder's group share
    assert app.sources.sync("cloud").status == "done"
    assert dora_sees("salary bands") == {"salaries"} and dora_sees("laptop morning") == {"onboarding"}
    del dav.ocs.groups["hr"]  # the group is deleted: its members lose access
    assert app.sources.sync("cloud").status == "done"
    assert dora_sees("salary bands") == set()

    # an account that is neither admin nor sub-admin: Nextcloud answers 403, the sync goes on
    dav.ocs.groups.update({"finance": {"dora"}, "hr": {"dora"}})
    dav.ocs.admin = False
    caplog.set_level(logging.WARNING, logger="souverain.sources")
    r = app.sources.sync("cloud")
    assert r.status == "done", r.error
    assert app.sources.get("cloud")["last_error"] is None
    warnings = [rec for rec in caplog.records if "members" in rec.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING  # once per sync, for both groups
    assert "'finance', 'hr'" in warnings[0].getMessage() and "by hand" in warnings[0].getMessage()
    assert dora_groups() == [] and dora_sees("train tickets") == set()  # no members (fail closed)
    app.identity.add_external_principal(dora.id, "nextcloud", "group:finance")  # linked by hand instead
    assert dora_sees("train tickets") == {"travel"} and dora_sees("salary bands") == set()

    dav.ocs.subadmin_of = {"hr"}  # a sub-admin may read the groups it manages
    caplog.clear()
    assert app.sources.sync("cloud").status == "done"
    assert dora_sees("salary bands") == {"salaries"}
    assert "'finance'" in caplog.text and "'hr'" not in caplog.text


def test_throttling_is_retried_and_a_broken_file_fails_alone(app: Souverain, dav: WebDAVServer) -> None:
    assert dav.faults is not None
    dav.write("Team/broken.txt", "this file cannot be downloaded")
    dav.faults.fail_path(f"{MOUNT}/Team/broken.txt", 403)
    dav.faults.fail_next(2, 429, retry_after="1")  # the first PROPFIND is throttled twice...
    app.sources.add("cloud", "webdav", config(dav))
    r = app.sources.sync("cloud")
    assert r.status == "done", r.error
    assert r.counts["added"] == 3 and r.counts["failed"] == 1
    failed = [rep for rep in r.reports if rep.status == "failed"]
    assert [(rep.uri, rep.reason) for rep in failed] == [("webdav://cloud/Team%2Fbroken.txt", "forbidden")]
    assert r.http["retries"] >= 2 and r.http["throttled"] >= 2 and r.http["waited_s"] >= 2

    dav.faults.fail_next(1, 503, retry_after="1")
    dav.faults.path_faults.clear()
    r = app.sources.sync("cloud")
    assert r.status == "done" and r.counts["added"] == 1 and r.http["throttled"] == 1  # the failed file comes back
    assert titles(app, "cannot be downloaded") == {"broken"}

    dav.faults.fail_next(50, 503, retry_after="0")  # a server that stays throttled fails the sync, keeps the index
    r = app.sources.sync("cloud")
    assert r.status == "failed" and r.error.startswith("throttled:")
    assert len(app.store.document_uris(source="cloud")) == 4


def test_nothing_outside_the_allow_list_is_ever_requested(app: Souverain, dav: WebDAVServer) -> None:
    dav.ocs.add("Private/diary.txt", 3)
    app.sources.add("cloud", "webdav", config(dav, folders=["Team/HR", "Team/HR/Deep"], nextcloud_shares=True))
    r = app.sources.sync("cloud")
    assert r.status == "done" and r.counts["added"] == 2
    paths = dav_requests(dav)
    assert paths and all(p.startswith(f"{MOUNT}/Team/HR/") or p.startswith("/ocs/") for p in paths), paths
    assert not any("Private" in p or "Teamwork" in p or "travel" in p for p in paths)
    assert dav.faults is not None
    ocs_queries = [q for _, p, q in dav.faults.log if p.startswith("/ocs/")]
    assert ocs_queries and not any("Private" in q or "travel" in q for q in ocs_queries)
    # the nested allow-listed folder was folded into its parent: each folder listed once per pass
    assert paths.count(f"{MOUNT}/Team/HR/Deep/") == 1

    with pytest.raises(SourceConfigError, match="folders"):
        app.sources.add("all", "webdav", config(dav, folders=[]))
    with pytest.raises(SourceConfigError, match="acl rules or nextcloud_shares"):
        app.sources.add("invisible", "webdav", config(dav, acl={}))


def test_bad_credentials_fail_clearly_and_keep_the_index(app: Souverain, dav: WebDAVServer, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    app.sources.add("cloud", "webdav", config(dav))
    assert app.sources.sync("cloud").counts["added"] == 3
    wrong = "Wrong-Passw0rd-value-xyz"
    monkeypatch.setenv(PW_ENV, wrong)
    caplog.set_level(logging.DEBUG)
    r = app.sources.sync("cloud")
    assert r.status == "failed" and r.error.startswith("auth_failed:"), r.error
    assert "alice" in r.error and wrong not in r.error and dav.password not in r.error
    assert wrong not in caplog.text and dav.password not in caplog.text
    assert app.sources.get("cloud")["last_error"].startswith("auth_failed")
    assert len(app.store.document_uris(source="cloud")) == 3
    with pytest.raises(SourceError) as err:
        app.sources.check("cloud")
    assert err.value.reason == "auth_failed" and wrong not in str(err.value)

    monkeypatch.setenv(PW_ENV, dav.password)
    app.sources.update("cloud", settings=config(dav, folders=["Team", "Gone"]))
    r = app.sources.sync("cloud")
    assert r.status == "failed" and r.error.startswith("not_found:") and "Gone" in r.error
    assert len(app.store.document_uris(source="cloud")) == 3


# -- the connector on its own -------------------------------------------------------------------


def test_listing_token_resumes_folder_by_folder(dav: WebDAVServer) -> None:
    conn = connector(dav)
    first = conn.list_page(None)
    assert [i.id for i in first.items] == ["Team/travel.md"] and first.next_token is not None
    assert json.loads(first.next_token) == {"roots": ["Team"], "q": ["Team/HR"]}
    # a fresh connector (after a crash) carries on from the token without listing Team/ again
    assert dav.faults is not None
    dav.faults.clear()
    rest = connector(dav)
    second = rest.list_page(first.next_token)
    assert [i.id for i in second.items] == ["Team/HR/salaries.txt"]
    third = rest.list_page(second.next_token)
    assert [i.id for i in third.items] == ["Team/HR/Deep/onboarding.txt"] and third.next_token is None
    assert dav_requests(dav) == [f"{MOUNT}/Team/HR/", f"{MOUNT}/Team/HR/Deep/"]
    # a token from other settings restarts from the roots
    other = connector(dav, folders=["Team/HR"])
    assert [i.id for i in other.list_page(first.next_token).items] == ["Team/HR/salaries.txt"]
    assert [i.id for i in other.list_page("not json").items] == ["Team/HR/salaries.txt"]
    item = first.items[0]
    assert item.version and item.size == len("# Travel\nTrain tickets are reimbursed in second class.")
    assert item.principals == ("public",) and item.modified_at is not None and item.name == "travel.md"


def test_fetch_errors_are_per_item_and_the_size_cap_holds(dav: WebDAVServer) -> None:
    conn = connector(dav, max_bytes=30)
    items = {i.id: i for i in list_all(conn)}
    with pytest.raises(ItemError) as err:
        conn.fetch(items["Team/travel.md"])  # 54 bytes listed
    assert err.value.reason == "file_too_large"
    unsized = SourceItem(id="Team/travel.md", name="travel.md", path="Team/travel.md", version="x")
    with pytest.raises(ItemError, match="limit"):
        conn.fetch(unsized)
    (dav.root / "Team/HR/salaries.txt").unlink()  # deleted between the listing and the download
    with pytest.raises(ItemError) as err:
        connector(dav).fetch(items["Team/HR/salaries.txt"])
    assert err.value.reason == "not_found"
    outside = SourceItem(id="Private/diary.txt", name="diary.txt", path="Private/diary.txt", version="x")
    with pytest.raises(ItemError, match="outside"):
        conn.fetch(outside)
    with pytest.raises(SourceError) as serr:
        connector(dav, password="nope").fetch(items["Team/travel.md"])
    assert serr.value.reason == "auth_failed"


def test_share_mapping_follows_the_ocs_share_types(dav: WebDAVServer) -> None:
    dav.ocs.add("Team", 1, "staff")
    dav.ocs.add("Team/HR/salaries.txt", 0, "bob")
    dav.ocs.add("Team/HR/salaries.txt", 3)  # public link
    dav.ocs.add("Team/HR/salaries.txt", 4, "someone@example.org")  # e-mail share: not mapped
    dav.set_prop("Team/travel.md", "owner-id", "dave")  # a file shared into alice's tree: dave owns it
    conn = connector(dav, acl={"Team/HR/": ["group:7"]}, nextcloud_shares=True)
    items = {i.id: i for i in list_all(conn)}
    assert all(i.principals is None for i in items.values())  # read through permissions()
    assert conn.permissions(items["Team/HR/salaries.txt"]) == (
        "ext:nextcloud:alice", "ext:nextcloud:bob", "ext:nextcloud:group:staff", "group:7", "public")
    assert conn.permissions(items["Team/travel.md"]) == ("ext:nextcloud:alice", "ext:nextcloud:dave",
                                                         "ext:nextcloud:group:staff")
    assert conn.ocs_url == dav.ocs_url
    assert dav.faults is not None
    folder_lookups = [q for _, p, q in dav.faults.log if p.startswith("/ocs/") and q.startswith("path=%2FTeam&")]
    assert len(folder_lookups) == 1  # parent folders' shares are cached for the sync

    dav.faults.fail_path("/ocs/v2.php/apps/files_sharing/api/v1/shares", 400)  # an unreadable share list
    with pytest.raises(ItemError) as err:  # fails that item only (never "public", never the rules alone)
        connector(dav, nextcloud_shares=True).permissions(items["Team/travel.md"])
    assert err.value.reason == "permissions_unreadable"


def test_group_answers_of_both_ocs_versions(dav: WebDAVServer, caplog: pytest.LogCaptureFixture) -> None:
    dav.ocs.groups.update({"Équipe finance": {"dora", "erin"}, "hr": set()})
    refs = ["ext:nextcloud:group:Équipe finance", "ext:nextcloud:group:hr", "ext:nextcloud:group:gone",
            "ext:nextcloud:dora", "public", "ext:m365:group:x"]
    expected = [("ext:nextcloud:group:gone", ()), ("ext:nextcloud:group:hr", ()),
                ("ext:nextcloud:group:Équipe finance", ("ext:nextcloud:dora", "ext:nextcloud:erin"))]

    def read(conn: WebDAVConnector, principals: list[str] = refs) -> list[tuple[str, tuple[str, ...]]]:
        return [(g.group, g.members) for g in conn.groups(principals)]

    root = f"http://127.0.0.1:{dav.port}"
    v2 = connector(dav, nextcloud_shares=True)
    assert v2.groups_url == f"{root}/ocs/v2.php/cloud/groups"
    assert read(v2) == expected
    v1 = connector(dav, nextcloud_shares=True, groups_url=f"{root}/ocs/v1.php/cloud/groups/")
    assert read(v1) == expected  # HTTP 200 with statuscode 100 / 404
    dav.ocs.admin = False  # 403: v2 in the HTTP status, v1 in the statuscode only
    caplog.set_level(logging.WARNING)
    assert read(v1) == read(v2) == [("ext:nextcloud:group:gone", ())]
    assert caplog.text.count("admin or a sub-admin") == 2  # one warning per call, not per group
    # 401 (older servers' OCS 997) is a refusal too: in a sync the same credentials have just listed the files
    assert read(connector(dav, nextcloud_shares=True, password="nope")) == []

    assert dav.faults is not None
    dav.faults.clear()
    assert read(connector(dav, nextcloud_shares=True, nextcloud_groups=False)) == []
    assert read(connector(dav)) == []  # acl rules only
    assert not dav.faults.log  # nothing asked
    dav.faults.fail_next(10, 503, retry_after="0")  # a server that stays throttled fails the sync
    with pytest.raises(SourceError) as err:
        read(v2)
    assert err.value.reason == "throttled"
    dav.faults.clear()
    elsewhere = connector(dav, nextcloud_shares=True, groups_url=f"{root}/ocs/v2.php/apps/files_sharing/api/v1")
    with pytest.raises(SourceError) as err:  # an endpoint that answers something else than group members
        read(elsewhere, ["ext:nextcloud:group:hr"])
    assert err.value.reason == "bad_response"


def test_settings_validation() -> None:
    base = {"base_url": "https://cloud.example/remote.php/dav/files/alice", "username": "alice",
            "password": "env:X", "acl": {"": ["public"]}}
    s = WebDAVSettings.model_validate({**base, "folders": ["/Team/", "Team/HR", "Other"]})
    assert s.folders == ["Other", "Team"] and s.base_url.endswith("/alice/")
    assert WebDAVSettings.model_validate({**base, "folders": ["/"]}).folders == [""]
    for bad in ({"folders": []}, {"folders": ["a/../b"]}, {"folders": ["x"], "password": "hunter2"},
                {"folders": ["x"], "base_url": "ftp://x"}, {"folders": ["x"], "acl": {"": ["nobody"]}},
                {"folders": ["x"], "surprise": 1}):
        with pytest.raises(ValueError):
            WebDAVSettings.model_validate({**base, **bad})
    plain = {**base, "base_url": "https://dav.example/files/", "folders": ["x"], "nextcloud_shares": True}
    with pytest.raises(ValueError, match="ocs_url"):
        WebDAVSettings.model_validate(plain)
    with_ocs = {**plain, "ocs_url": "https://dav.example/cloud/ocs/v2.php/apps/files_sharing/api/v1/shares"}
    assert WebDAVSettings.model_validate(with_ocs).nextcloud_groups  # the groups endpoint is derived from ocs_url
    custom = {**plain, "ocs_url": "https://dav.example/shares"}
    with pytest.raises(ValueError, match="groups_url"):
        WebDAVSettings.model_validate(custom)
    assert WebDAVSettings.model_validate({**custom, "nextcloud_groups": False})
    assert WebDAVSettings.model_validate({**custom, "groups_url": "https://dav.example/ocs/v2.php/cloud/groups"})


# -- crash safety ------------------------------------------------------------------------------


def test_sigkill_mid_sync_then_resume_ends_equal_to_the_server(tmp_path: Path, dav: WebDAVServer) -> None:
    for rel in ("Team/travel.md", "Team/HR/salaries.txt", "Team/HR/Deep/onboarding.txt"):
        (dav.root / rel).unlink()
    for i in range(2000):
        dav.write(f"Team/dept{i % 5}/team{i % 11}/note-{i:04}.txt", f"Note {i}: unit {i} reports {i * 37 % 1000}.\n")
    data, env = tmp_path / "data", cli_env(**{PW_ENV: dav.password})
    add_source(data, "big", "webdav", config(dav), env)
    sync_and_kill(data, "big", env)

    (dav.root / "Team/dept0/team0/note-0000.txt").unlink()
    dav.write("Team/late.txt", "A late addition about the canteen menu.")
    dav.write("Team/dept3/team3/note-0003.txt", "Edited after the crash: the budget doubled.")

    resume_sync(data, "big", env)
    files = {p.relative_to(dav.root).as_posix(): p.read_bytes() for p in (dav.root / "Team").rglob("*") if p.is_file()}
    assert len(files) == 2000
    assert_index_equals(data, "big", files)
