"""Google Drive sources against a local fake of the documented Drive v3, Directory and OAuth endpoints."""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from souverain.documents import AccessFilter
from souverain.service import Souverain
from souverain.sources.base import ChangePage, ConnectorContext, ResyncRequired, SourceError
from souverain.sources.gdrive import GoogleDriveConnector, GoogleDriveSettings
from souverain.sources.http import HttpClient
from souverain.sources.secrets import SecretResolver

from .crash import add_source, assert_index_equals, cli_env, resume_sync, sync_and_kill
from .fake_drive import FakeGoogle, anyone, domain, group, user

ADMIN = "admin@example.com"
ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"
SA_EMAIL = "souverain@test-project.iam.gserviceaccount.com"


@dataclass
class Key:
    path: Path
    text: str  # the key JSON (holds the private key: must never be logged)
    pem: str
    public: Any


def make_key(directory: Path, token_uri: str = "http://127.0.0.1:9/token") -> Key:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    text = json.dumps({"type": "service_account", "project_id": "test-project", "private_key_id": "k1",
                       "private_key": pem, "client_email": SA_EMAIL, "client_id": "1", "token_uri": token_uri})
    path = directory / f"sa-{secrets.token_hex(4)}.json"
    path.write_text(text)
    return Key(path, text, pem, private.public_key())


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def fake(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> Iterator[tuple[FakeGoogle, Key]]:
    with FakeGoogle(SA_EMAIL, signing_key.public_key(), [ADMIN, ALICE, BOB, CAROL]) as g:
        pem = signing_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
        text = json.dumps({"type": "service_account", "private_key_id": "k1", "private_key": pem,
                           "client_email": SA_EMAIL, "token_uri": g.token_uri})
        path = tmp_path / "sa.json"
        path.write_text(text)
        yield g, Key(path, text, pem, signing_key.public_key())


def config(g: FakeGoogle, key: Key, **kw: Any) -> dict[str, Any]:
    return {"service_account_key": f"file:{key.path}", "subject": ADMIN, "drive_url": g.url, "directory_url": g.url, **kw}


def hits(app: Souverain, query: str, principals: set[str] | AccessFilter) -> set[str]:
    access = principals if isinstance(principals, AccessFilter) else AccessFilter.for_principals(principals)
    return {h.title for h in app.search(query, access, mode="lexical").hits}


def sync(app: Souverain, name: str = "gd", **kw: Any) -> Any:
    r = app.sources.sync(name, **kw)
    assert r.status == "done", r.error
    return r


def staff_drive(g: FakeGoogle) -> str:
    return g.add_drive("drv1", "Handbook", [user(ADMIN, "organizer"), group("staff@example.com", "reader")])


# ----------------------------------------------------------------------------------------------------
def test_initial_sync_exports_google_docs_downloads_files_and_skips_other_google_types(fake, app: Souverain) -> None:
    g, key = fake
    d = staff_drive(g)
    g.add_group("staff@example.com", ["eng@example.com"])
    g.add_group("eng@example.com", [ALICE])
    hr = g.add_folder("HR", drive=d)
    doc = g.add_file("Leave policy", "Parental leave lasts sixteen weeks at full pay.", parent=hr, native="doc")
    g.add_file("Budget", "item,amount\nespresso machine,1200", drive=d, native="sheet")
    g.add_file("Kickoff", "Quarterly roadmap kickoff", drive=d, native="slides")
    g.add_file("notes.txt", b"The canteen serves ramen on Thursdays.", parent=hr, mime="text/plain")
    g.add_file("Survey", "", drive=d, native="form")
    g.add_file("Shortcut to notes", "", drive=d, native="shortcut")
    app.sources.add("gd", "gdrive", config(g, key, shared_drives=[d]))

    r = sync(app)
    assert r.counts["added"] == 4 and r.counts["failed"] == 0, r.reports
    gets = [(q["path"], q["query"]) for q in g.requests if q["path"] != "/token"]
    first_list = next(i for i, (p, _) in enumerate(gets) if p == "/drive/v3/files")
    assert any(p == "/drive/v3/changes/startPageToken" for p, _ in gets[:first_list])  # the token is taken first
    assert all(q.get("supportsAllDrives") == "true" for p, q in gets if p.startswith("/drive/") and "/export" not in p)
    exports = {q["mimeType"] for p, q in gets if p.endswith("/export")}
    assert len(exports) == 3 and all("openxmlformats" in m for m in exports)
    names = {u.rsplit("/", 1)[-1] for u in app.store.document_uris(source="gd")}
    assert doc in names
    assert {r.uri for r in r.reports if r.status == "indexed"} == set(app.sources.item_uris("gd").values())

    # alice is in eng, which is in staff, a member of the drive: the permissions are read per item
    alice = app.identity.create_user("alice")
    app.identity.add_external_principal(alice.id, "gdrive", ALICE)
    assert hits(app, "parental leave", app.identity.access_filter_for(alice.id)) == {"Leave policy"}
    assert hits(app, "espresso machine", app.identity.access_filter_for(alice.id)) == {"Budget"}
    assert len(hits(app, "roadmap kickoff", {"ext:gdrive:group:staff@example.com"})) == 1  # (the slide title)
    assert hits(app, "parental leave", AccessFilter.public()) == set()

    # a second sync without changes reads the (empty) change feed and fetches nothing
    n = len(g.requests)
    r = sync(app)
    assert r.counts["added"] == r.counts["updated"] == r.counts["deleted"] == 0
    assert not [q for q in g.requests[n:] if q["query"].get("alt") == "media" or q["path"].endswith("/export")]
    assert any(q["path"] == "/drive/v3/changes" for q in g.requests[n:])


def test_my_drive_add_modify_rename_move_trash_delete(fake, app: Souverain) -> None:
    g, key = fake
    g.page_size = 2  # every list and feed is paged
    a = g.add_file("alpha.txt", b"Alpha: the office opens at eight.", owner=BOB, mime="text/plain")
    b = g.add_file("beta.txt", b"Beta: parking spots are assigned yearly.", owner=BOB, mime="text/plain")
    c = g.add_file("gamma.txt", b"Gamma: printers are on floor two.", owner=BOB, mime="text/plain")
    d = g.add_file("delta.txt", b"Delta: the VPN rotates keys monthly.", owner=BOB, mime="text/plain")
    folder = g.add_folder("Archive", owner=BOB)
    g.add_file("carol.txt", b"Carol's private diary.", owner=CAROL, perms=[user(BOB)], mime="text/plain")
    app.sources.add("gd", "gdrive", config(g, key, my_drive_users=[BOB], page_size=2))
    r = sync(app)
    assert r.counts["added"] == 4, r.reports
    bob = {f"ext:gdrive:{BOB}"}
    assert hits(app, "office opens", bob) == {"alpha"}
    assert hits(app, "diary", {f"ext:gdrive:{CAROL}", *bob}) == set()  # shared with bob, owned by carol: not his

    g.update_file(a, b"Alpha: the office now opens at nine.")
    g.update_file(b, name="beta-renamed.txt")
    g.move(c, folder)
    g.trash(d)
    e = g.add_file("epsilon.txt", b"Epsilon: badges are renewed in June.", owner=BOB, mime="text/plain")
    r = sync(app)
    # the edit and the rename are updates (same bytes after a rename, but the title must follow)
    assert (r.counts["added"], r.counts["updated"], r.counts["deleted"]) == (1, 2, 1), r.counts
    assert hits(app, "opens at nine", bob) == {"alpha"} and hits(app, "eight", bob) == set()
    assert hits(app, "parking spots", bob) == {"beta-renamed"}  # renamed: same document (the id is kept)
    assert hits(app, "printers floor", bob) == {"gamma"}  # moved: same document, same id
    assert hits(app, "VPN rotates", bob) == set()
    assert set(app.sources.item_uris("gd")) == {a, b, c, e}

    g.delete(e)
    g.trash(d, trashed=False)  # restored from the bin
    r = sync(app)
    assert (r.counts["added"], r.counts["deleted"]) == (1, 1)
    assert set(app.sources.item_uris("gd")) == {a, b, c, d}
    assert set(app.store.document_uris(source="gd")) == set(app.sources.item_uris("gd").values())


def test_nested_group_domain_and_anyone_permissions_follow_the_source(fake, app: Souverain) -> None:
    g, key = fake
    g.add_group("eng@example.com", ["backend@example.com", CAROL])
    g.add_group("backend@example.com", [ALICE])
    roadmap = g.add_file("roadmap.txt", b"The Zephyr launch moves to October.", owner=BOB, mime="text/plain",
                         perms=[group("Eng@Example.com", "commenter")])
    memo = g.add_file("memo.txt", b"Company memo: the quokka mascot is retired.", owner=BOB, mime="text/plain",
                      perms=[domain("example.com")])
    g.add_file("flyer.txt", b"Public flyer: the marathon starts at the harbour.", owner=BOB, mime="text/plain",
               perms=[anyone()])
    app.sources.add("gd", "gdrive", config(g, key, my_drive_users=[BOB]))
    alice = app.identity.create_user("alice")
    app.identity.add_external_principal(alice.id, "gdrive", ALICE)
    dora = app.identity.create_user("dora")
    app.identity.add_external_principal(dora.id, "gdrive", "domain:example.com")

    sync(app)
    assert hits(app, "Zephyr launch", app.identity.access_filter_for(alice.id)) == {"roadmap"}
    assert hits(app, "Zephyr launch", app.identity.access_filter_for(dora.id)) == set()
    assert hits(app, "quokka mascot", app.identity.access_filter_for(dora.id)) == {"memo"}
    assert hits(app, "quokka mascot", app.identity.access_filter_for(alice.id)) == set()
    assert hits(app, "marathon harbour", AccessFilter.public()) == {"flyer"}
    assert any(q["path"].startswith("/admin/directory/v1/groups/") for q in g.requests)

    g.remove_member("backend@example.com", ALICE)  # no file changes: the group sync alone revokes
    sync(app)
    assert hits(app, "Zephyr launch", app.identity.access_filter_for(alice.id)) == set()
    assert hits(app, "Zephyr launch", {f"ext:gdrive:{CAROL}"} | {"ext:gdrive:group:eng@example.com"}) == {"roadmap"}

    g.add_member("backend@example.com", ALICE)
    g.set_permissions(memo, [user(ALICE)])  # the domain loses it, alice gains it
    g.set_permissions(roadmap, [])
    r = sync(app)
    assert r.counts["permissions_updated"] == 2 and r.counts["updated"] == 0, r.counts  # no download again
    assert hits(app, "quokka mascot", app.identity.access_filter_for(dora.id)) == set()
    assert hits(app, "quokka mascot", app.identity.access_filter_for(alice.id)) == {"memo"}
    assert hits(app, "Zephyr launch", app.identity.access_filter_for(alice.id)) == set()


def test_shared_drive_membership_change_relists_the_drive(fake, app: Souverain) -> None:
    g, key = fake
    g.page_size = 1  # permissions.list is paged too
    d = staff_drive(g)
    g.add_group("staff@example.com", [ALICE])
    g.add_file("pay.txt", b"Salary reviews happen in March.", drive=d, mime="text/plain", perms=[user(CAROL)])
    app.sources.add("gd", "gdrive", config(g, key, shared_drives=[d]))
    alice = app.identity.create_user("alice")
    app.identity.add_external_principal(alice.id, "gdrive", ALICE)
    sync(app)
    assert hits(app, "salary reviews", app.identity.access_filter_for(alice.id)) == {"pay"}
    assert hits(app, "salary reviews", {f"ext:gdrive:{CAROL}"}) == {"pay"}

    g.set_drive_members(d, [user(ADMIN, "organizer")])  # no file change in the feed
    r = sync(app)
    assert r.counts["permissions_updated"] == 1, r.counts
    assert hits(app, "salary reviews", app.identity.access_filter_for(alice.id)) == set()
    assert hits(app, "salary reviews", {f"ext:gdrive:{CAROL}"}) == {"pay"}


def test_throttling_is_retried_and_a_failing_item_fails_alone(fake, app: Souverain) -> None:
    g, key = fake
    ids = [g.add_file(f"doc{i}.txt", f"Document {i} mentions the walrus number {i}.".encode(), owner=BOB,
                      mime="text/plain") for i in range(5)]
    small = g.add_file("Small", "The kiwi report is short.", owner=BOB, native="doc")
    big = g.add_file("Big", "The huge annex. " + secrets.token_hex(60_000), owner=BOB, native="doc")
    g.export_limit = (len(g._export(g.files[small])) + len(g._export(g.files[big]))) // 2
    g.fail_download(ids[2], 404)
    g.fail_download(ids[3], 403)
    app.sources.add("gd", "gdrive", config(g, key, my_drive_users=[BOB]))
    g.throttle_next(1, 429)
    g.throttle_next(1, 503)
    g.throttle_next(2, 403, "userRateLimitExceeded")
    g.throttle_next(1, 403, "rateLimitExceeded")
    r = sync(app)
    assert r.http["throttled"] >= 5 and r.http["retries"] >= 5, r.http
    assert r.counts["added"] == 4 and r.counts["failed"] == 3, r.counts
    failed = {rep.uri.rsplit("/", 1)[-1]: rep.reason for rep in r.reports if rep.status == "failed"}
    assert failed == {ids[2]: "not_found", ids[3]: "forbidden", big: "file_too_large"}
    assert hits(app, "walrus number", {f"ext:gdrive:{BOB}"}) == {"doc0", "doc1", "doc4"}
    assert hits(app, "kiwi report", {f"ext:gdrive:{BOB}"}) == {"Small"}

    del g.failures[ids[2]]  # a failed download is tried again at the next sync (the change feed is empty)
    g.update_file(ids[2], name="doc2.txt")
    r = sync(app)
    assert r.counts["added"] + r.counts["updated"] == 1, r.counts
    assert hits(app, "walrus number", {f"ext:gdrive:{BOB}"}) == {"doc0", "doc1", "doc2", "doc4"}


def test_persistent_403_rate_limit_fails_the_sync_clearly(fake, app: Souverain) -> None:
    g, key = fake
    g.add_file("a.txt", b"A file about herons.", owner=BOB, mime="text/plain")
    app.sources.add("gd", "gdrive", config(g, key, my_drive_users=[BOB]))
    g.throttle_next(20, 403, "rateLimitExceeded")
    r = app.sources.sync("gd")
    assert r.status == "failed" and r.error.startswith("throttled:"), r.error
    g.throttles.clear()
    sync(app)
    assert hits(app, "herons", {f"ext:gdrive:{BOB}"}) == {"a"}


def test_allow_list_folders_and_drives_outside_are_never_requested(fake, app: Souverain) -> None:
    g, key = fake
    d1 = staff_drive(g)
    d2 = g.add_drive("drv2", "Finance", [user(ADMIN, "organizer")])
    public = g.add_folder("Public", drive=d1)
    sub = g.add_folder("Sub", parent=public)
    secret_folder = g.add_folder("Board", drive=d1)
    inside = g.add_file("inside.txt", b"Inside: the library lends drills.", parent=sub, mime="text/plain")
    top = g.add_file("top.txt", b"Top: the garden has bees.", parent=public, mime="text/plain")
    board = g.add_file("board.txt", b"Board minutes: merger talks.", parent=secret_folder, mime="text/plain")
    other = g.add_file("finance.txt", b"Finance: merger price.", drive=d2, mime="text/plain")
    mine = g.add_file("carol.txt", b"Carol's merger notes.", owner=CAROL, mime="text/plain")
    app.sources.add("gd", "gdrive", config(g, key, shared_drives=[d1], folders=[public]))
    sync(app)
    assert set(app.sources.item_uris("gd")) == {inside, top}

    def touched(ids: set[str]) -> list[str]:
        return [q["path"] for q in g.requests if any(i in q["path"] or i in json.dumps(q["query"]) for i in ids)
                or q["subject"] == CAROL or q["query"].get("driveId") == d2]

    assert touched({board, other, mine, secret_folder, d2}) == []

    # a file moved out of the allowed folders is removed; a folder moved in brings its subtree
    g.move(inside, secret_folder)
    g.move(secret_folder, sub)
    r = sync(app)
    assert set(app.sources.item_uris("gd")) == {inside, top, board}, r.counts
    g.move(secret_folder, d1)  # back to the drive's root: its subtree leaves the scope
    g.move(top, d1)
    r = sync(app)
    assert set(app.sources.item_uris("gd")) == set(), r.counts
    assert app.store.document_uris(source="gd") == []
    assert touched({other, mine, d2}) == []
    # content was only ever downloaded for in-scope files
    media = {q["path"].rsplit("/", 1)[-1] for q in g.requests if q["query"].get("alt") == "media"}
    assert media == {inside, top, board}


def test_unknown_folder_and_drive_are_clear_errors(fake, app: Souverain) -> None:
    g, key = fake
    staff_drive(g)
    app.sources.add("gd", "gdrive", config(g, key, shared_drives=["drv1"], folders=["nope"]))
    r = app.sources.sync("gd")
    assert r.status == "failed" and r.error.startswith("not_found:") and "nope" in r.error
    app.sources.add("gd2", "gdrive", config(g, key, shared_drives=["missing"]))
    with pytest.raises(SourceError) as exc:
        app.sources.check("gd2")
    assert exc.value.reason == "not_found"
    app.sources.add("gd3", "gdrive", config(g, key, shared_drives=["drv1"], my_drive_users=[BOB]))
    assert app.sources.check("gd3").startswith("1 shared drive(s) (Handbook), 1 My Drive(s)")


def test_bad_credentials_fail_clearly_keep_what_is_stored_and_never_leak_the_key(
        fake, app: Souverain, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    g, key = fake
    g.add_file("kept.txt", b"Kept: the ferry leaves at noon.", owner=BOB, mime="text/plain")
    app.sources.add("gd", "gdrive", config(g, key, my_drive_users=[BOB]))
    sync(app)
    before = app.store.document_uris(source="gd")
    assert len(before) == 1

    caplog.set_level(logging.DEBUG)
    wrong = make_key(tmp_path, g.token_uri)  # a key the fake does not know: invalid signature
    app.sources.update("gd", settings=config(g, wrong, my_drive_users=[BOB]))
    g.add_file("new.txt", b"New file.", owner=BOB, mime="text/plain")
    r = app.sources.sync("gd")
    assert r.status == "failed" and r.error.startswith("auth_failed:") and "Invalid JWT Signature" in r.error, r.error
    assert app.store.document_uris(source="gd") == before
    assert app.sources.get("gd")["last_error"] == r.error

    app.sources.update("gd", settings=config(g, key, my_drive_users=[BOB]))
    g.authorized_scopes = set()  # domain-wide delegation revoked
    r = app.sources.sync("gd")
    assert r.status == "failed" and "unauthorized_client" in r.error
    with pytest.raises(SourceError) as exc:
        app.sources.check("gd")
    assert exc.value.reason == "auth_failed"

    os.environ.pop("GDRIVE_MISSING_KEY", None)
    app.sources.update("gd", settings={**config(g, key, my_drive_users=[BOB]), "service_account_key": "env:GDRIVE_MISSING_KEY"})
    r = app.sources.sync("gd")
    assert r.status == "failed" and "GDRIVE_MISSING_KEY" in r.error
    assert app.store.document_uris(source="gd") == before

    for text in (r.error, caplog.text, json.dumps(app.sources.get("gd"))):
        for secret in (key.pem, wrong.pem, key.pem.splitlines()[1], wrong.pem.splitlines()[1]):
            assert secret not in text
    assert "ya29." not in caplog.text  # no bearer token in the logs either


def test_expired_page_token_resyncs_and_deletes_what_vanished_meanwhile(fake, app: Souverain) -> None:
    g, key = fake
    keep = g.add_file("keep.txt", b"Keep: the atrium has a piano.", owner=BOB, mime="text/plain")
    gone = g.add_file("gone.txt", b"Gone: the old cafeteria menu.", owner=BOB, mime="text/plain")
    app.sources.add("gd", "gdrive", config(g, key, my_drive_users=[BOB]))
    sync(app)
    g.delete(gone)
    g.expire_tokens()  # the deletion is only visible through the expired token
    r = sync(app)
    assert r.full_pass and r.counts["deleted"] == 1, r.counts
    assert set(app.sources.item_uris("gd")) == {keep}
    assert hits(app, "cafeteria menu", {f"ext:gdrive:{BOB}"}) == set()
    sync(app)  # and the new token works


def test_connector_cursor_is_resumable_and_changes_follow_the_start_token(fake) -> None:
    g, key = fake
    g.page_size = 2
    for i in range(5):
        g.add_file(f"n{i}.txt", f"note {i}".encode(), owner=BOB, mime="text/plain")
    ctx = ConnectorContext(HttpClient(), SecretResolver({}))
    conn = GoogleDriveConnector(GoogleDriveSettings.model_validate(config(g, key, my_drive_users=[BOB], page_size=2)), ctx)
    pages: list[ChangePage] = [conn.changes(None)]
    late = g.add_file("late.txt", b"added during the listing", owner=BOB, mime="text/plain")
    while pages[-1].more:
        # a fresh connector per page: the cursor alone carries the state (as after a crash)
        conn = GoogleDriveConnector(conn.settings, ctx)
        pages.append(conn.changes(pages[-1].cursor))
    full = [c.item_id for p in pages if p.full for c in p.changes]
    after = [c.item_id for p in pages if not p.full for c in p.changes]
    assert len(full) == len(set(full)) and late in after  # seen by changes.list from the early start token
    assert all(len(p.cursor) < 2000 for p in pages)
    assert json.loads(pages[-1].cursor)["phase"] == "changes"
    g.expire_tokens()
    with pytest.raises(ResyncRequired):
        conn.changes(pages[-1].cursor)
    with pytest.raises(ResyncRequired):  # a changed allow-list needs a full pass
        GoogleDriveConnector(GoogleDriveSettings.model_validate(config(g, key, my_drive_users=[BOB, ALICE])),
                             ctx).changes(pages[-1].cursor)
    # tokens are cached: one token request per impersonated user and scope
    n = g.token_requests
    conn = GoogleDriveConnector(conn.settings, ctx)
    conn.check()
    page = conn.changes(None)
    conn.changes(page.cursor)
    assert g.token_requests == n + 2  # the subject (check) and bob
    ctx.http.close()


def test_a_failed_download_is_retried_at_the_next_sync_though_the_file_did_not_change(fake, app: Souverain) -> None:
    g, key = fake
    d = staff_drive(g)
    ok = g.add_file("ok.txt", b"The lighthouse is painted red.", drive=d, mime="text/plain")
    flaky = g.add_file("flaky.txt", b"The observatory opens on Fridays.", drive=d, mime="text/plain")
    mine = g.add_file("mine.txt", b"Bob keeps the pelican logbook.", owner=BOB, mime="text/plain", perms=[user(ADMIN)])
    g.fail_download(flaky, 403)
    g.fail_download(mine, 403)
    app.sources.add("gd", "gdrive", config(g, key, shared_drives=[d], my_drive_users=[BOB]))
    r = sync(app)
    assert r.counts["added"] == 1 and r.counts["failed"] == 2, r.counts
    assert {rep.uri.rsplit("/", 1)[-1] for rep in r.reports if rep.status == "failed"} == {flaky, mine}

    r = sync(app)  # still refused: tried again (the feed is empty), failed again, nothing else happens
    assert (r.counts["added"], r.counts["failed"], r.counts["deleted"]) == (0, 2, 0), r.counts
    assert set(app.sources.item_uris("gd")) == {ok, flaky, mine}

    del g.failures[flaky]  # the fault clears; the file itself does not change, so changes.list says nothing
    n = len(g.requests)
    r = sync(app)
    assert (r.counts["added"], r.counts["updated"], r.counts["failed"]) == (1, 0, 1), r.counts
    feed = [q for q in g.requests[n:] if q["path"] == "/drive/v3/changes"]
    assert feed and not [q for q in g.requests[n:] if q["path"].endswith(ok)]  # ok is neither read nor fetched
    staff = {"ext:gdrive:group:staff@example.com"}
    assert hits(app, "observatory Fridays", staff) == {"flaky"}

    del g.failures[mine]  # a My Drive file: read and fetched as its owner, with the owner's view of its sharing
    n = len(g.requests)
    r = sync(app)
    assert (r.counts["added"], r.counts["updated"], r.counts["failed"]) == (1, 0, 0), r.counts
    media = [q for q in g.requests[n:] if q["query"].get("alt") == "media"]
    assert [(q["path"].rsplit("/", 1)[-1], q["subject"]) for q in media] == [(mine, BOB)]
    assert hits(app, "pelican logbook", {f"ext:gdrive:{BOB}"}) == {"mine"}
    assert hits(app, "pelican logbook", {f"ext:gdrive:{ADMIN}"}) == {"mine"}
    assert hits(app, "pelican logbook", staff) == set()

    r = sync(app)  # nothing left to retry
    assert r.counts["added"] == r.counts["failed"] == r.counts["updated"] == 0, r.counts


def test_item_and_list_ids_apply_the_listing_rules(fake) -> None:
    g, key = fake
    g.page_size = 2
    d = staff_drive(g)
    d2 = g.add_drive("drv2", "Finance", [user(ADMIN, "organizer")])
    public = g.add_folder("Public", drive=d)
    sub = g.add_folder("Sub", parent=public)
    other = g.add_folder("Other", drive=d)
    guide = g.add_file("Guide", "How to book the big room.", parent=sub, native="doc")
    txt = g.add_file("a.txt", b"alpha", parent=public, mime="text/plain")
    bin_ = g.add_file("b.bin", b"beta", parent=sub)
    outside = g.add_file("c.txt", b"gamma", parent=other, mime="text/plain")
    form = g.add_file("Survey", "", parent=public, native="form")
    fin = g.add_file("fin.txt", b"finance", drive=d2, mime="text/plain")
    bob_folder = g.add_folder("Shared", owner=BOB)
    bobs = g.add_file("bob.txt", b"bob", parent=bob_folder, mime="text/plain", perms=[user(ADMIN), user(ALICE)])
    bob_loose = g.add_file("loose.txt", b"not in the folder", owner=BOB, mime="text/plain")
    carol = g.add_file("carol.txt", b"carol", owner=CAROL, mime="text/plain", perms=[user(BOB)])
    settings = GoogleDriveSettings.model_validate(config(g, key, shared_drives=[d], my_drive_users=[BOB],
                                                         folders=[public, bob_folder], page_size=2))
    ctx = ConnectorContext(HttpClient(), SecretResolver({}))
    conn = GoogleDriveConnector(settings, ctx)
    pages = [conn.changes(None)]
    while pages[-1].more:
        pages.append(conn.changes(pages[-1].cursor))
    listed = {c.item_id: c.item for p in pages for c in p.changes if c.item is not None}
    assert set(listed) == {guide, txt, bin_, bobs}
    assert listed[bobs].principals is not None  # read as its owner: the listing carries its sharing

    n = len(g.requests)
    assert sorted(conn.list_ids()) == sorted(listed)
    fields = {q["query"]["fields"] for q in g.requests[n:] if q["path"] == "/drive/v3/files"}
    assert fields and all("permissions" not in f and f.startswith("nextPageToken,files(id,") for f in fields)

    fresh = GoogleDriveConnector(settings, ctx)  # no feed state: the folders are followed up to an allowed one
    for c in (conn, fresh):
        assert {fid: c.item(fid) for fid in listed} == listed
        for fid in (outside, form, fin, bob_loose, carol, sub, public, "no-such-file"):
            assert c.item(fid) is None, fid
    assert sorted(fresh.list_ids()) == sorted(listed)

    g.trash(txt)
    g.vanish(guide)
    g.move(bin_, other)  # out of the allowed folders
    for c in (conn, GoogleDriveConnector(settings, ctx)):
        assert c.item(txt) is None and c.item(guide) is None and c.item(bin_) is None
        assert sorted(c.list_ids()) == [bobs]
    assert [q for q in g.requests if q["subject"] == CAROL] == []
    ctx.http.close()


def test_prune_removes_what_the_feed_missed_and_nothing_in_scope(fake, app: Souverain) -> None:
    g, key = fake
    g.page_size = 2  # listings for the prune are paged too
    d = staff_drive(g)
    public = g.add_folder("Public", drive=d)
    sub = g.add_folder("Sub", parent=public)
    in_drive = [g.add_file(f"k{i}.txt", f"Kept note {i} about the albatross.".encode(), parent=sub if i % 2 else public,
                           mime="text/plain") for i in range(4)]
    in_drive.append(g.add_file("Guide", "The albatross guide.", parent=sub, native="doc"))
    refused = g.add_file("refused.txt", b"Refused albatross.", parent=public, mime="text/plain")
    g.fail_download(refused, 403)  # stored as failed: still in scope, never pruned
    g.add_file("Survey", "", parent=public, native="form")
    g.add_file("outside.txt", b"Outside albatross.", drive=d, mime="text/plain")
    in_my_drive = [g.add_file(f"b{i}.txt", f"Bob's note {i} about the albatross.".encode(), owner=BOB, mime="text/plain")
                   for i in range(3)]
    g.add_file("carol.txt", b"Carol's albatross.", owner=CAROL, mime="text/plain", perms=[user(BOB)])
    app.sources.add("gd", "gdrive", config(g, key, shared_drives=[d], folders=[public], page_size=2))
    app.sources.add("bd", "gdrive", config(g, key, my_drive_users=[BOB], page_size=2))
    for name, ids in (("gd", [*in_drive, refused]), ("bd", in_my_drive)):
        r = sync(app, name)
        assert r.full_pass and not r.pruned
        r = sync(app, name)  # never pruned yet: the manager prunes on its own (at most daily)
        assert r.pruned and r.counts["deleted"] == 0, r.counts
        assert set(app.sources.item_uris(name)) == set(ids)

        gone = ids[1]
        g.vanish(gone)  # deleted without a trace in the change feed
        r = sync(app, name)
        assert not r.pruned and r.counts["deleted"] == 0
        assert set(app.sources.item_uris(name)) == set(ids)

        n = len(g.requests)
        r = sync(app, name, prune=True)
        assert r.pruned and r.counts["deleted"] == 1, r.counts
        assert [rep.uri.rsplit("/", 1)[-1] for rep in r.reports if rep.status == "removed"] == [gone]
        assert set(app.sources.item_uris(name)) == set(ids) - {gone}
        stored = {u.rsplit("/", 1)[-1] for u in app.store.document_uris(source=name)}
        assert stored == set(ids) - {gone, refused}
        fetched = {q["path"].split("/")[4] for q in g.requests[n:] if q["query"].get("alt") == "media"
                   or q["path"].endswith("/export")}
        assert fetched <= {refused}  # the prune downloads nothing (the refused file is retried, as every sync)

        r = sync(app, name, prune=True)  # and again: nothing else goes
        assert r.pruned and r.counts["deleted"] == 0, r.counts
        assert set(app.sources.item_uris(name)) == set(ids) - {gone}


# ----------------------------------------------------------------------------------------------------
def test_sigkill_mid_sync_then_resume_ends_equal_to_the_drive(fake, tmp_path: Path) -> None:
    g, key = fake
    for i in range(2000):
        g.add_file(f"note-{i:04}.txt", f"Note {i}: the figure for unit {i} is {i * 37 % 1000}.\n".encode(),
                   owner=BOB, mime="text/plain")
    data, env = tmp_path / "data", cli_env(GDRIVE_TEST_KEY=key.text)
    cfg = {**config(g, key, my_drive_users=[BOB], page_size=50), "service_account_key": "env:GDRIVE_TEST_KEY"}
    add_source(data, "big", "gdrive", cfg, env)
    sync_and_kill(data, "big", env)

    # the drive changes while the sync is down: one file deleted, one added, one edited
    files = sorted((f for f in g.files.values() if f.owner == BOB), key=lambda f: f.id)
    g.delete(files[0].id)
    g.add_file("late.txt", b"A late addition about the canteen.", owner=BOB, mime="text/plain")
    g.update_file(files[1500].id, b"Edited after the crash: the budget doubled.")

    _, output = resume_sync(data, "big", env)
    assert key.pem.splitlines()[1] not in output
    assert_index_equals(data, "big", {f.id: f.data for f in g.files.values() if f.owner == BOB})
