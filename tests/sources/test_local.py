"""Local folder sources through the real sync runner: the index follows the folder, permissions included."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from souverain.documents import AccessFilter, content_hash
from souverain.service import Souverain
from souverain.sources.manager import SourceConfigError

PUBLIC = AccessFilter.public()


def write(path: Path, text: str, mtime_bump: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mtime_bump:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + mtime_bump * 1_000_000_000))


def titles(app: Souverain, query: str, access: AccessFilter = PUBLIC) -> set[str]:
    return {h.title.lower() for h in app.search(query, access, mode="lexical").hits}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "share"
    write(root / "travel.md", "# Travel\nTrain tickets are reimbursed in second class.")
    write(root / "hr" / "salaries.txt", "Salary bands for engineers are reviewed every March.")
    write(root / ".hidden.txt", "hidden files are never indexed")
    write(root / "~$lock.docx", "office lock file")
    return root


def test_folder_sync_follows_additions_changes_moves_and_deletions(app: Souverain, folder: Path) -> None:
    app.sources.add("share", "local", {"path": str(folder), "acl": {"": ["public"]}})
    r = app.sources.sync("share")
    assert r.status == "done", r.error
    assert r.counts["added"] == 2 and r.counts["failed"] == 0
    assert titles(app, "train tickets") == {"travel"}
    assert set(app.sources.item_uris("share")) == {"travel.md", "hr/salaries.txt"}
    assert set(app.store.document_uris(source="share")) == set(app.sources.item_uris("share").values())

    # nothing changed: metadata only, nothing fetched or re-parsed
    r = app.sources.sync("share")
    assert r.counts["unchanged"] == 2 and r.counts["added"] == r.counts["updated"] == 0

    write(folder / "travel.md", "# Travel\nTaxis are reimbursed after 22:00.", mtime_bump=5)
    write(folder / "new" / "kitchen.txt", "The kitchen is cleaned on Fridays.")
    (folder / "hr" / "salaries.txt").rename(folder / "bands.txt")
    r = app.sources.sync("share")
    assert r.status == "done"
    assert (r.counts["updated"], r.counts["added"], r.counts["deleted"]) == (1, 2, 1)
    assert titles(app, "taxis reimbursed") == {"travel"}
    assert titles(app, "train tickets") == set()
    assert titles(app, "kitchen cleaned") == {"kitchen"}
    assert titles(app, "salary bands") == {"bands"}
    uris = app.sources.item_uris("share")
    assert set(uris) == {"travel.md", "new/kitchen.txt", "bands.txt"}
    assert set(app.store.document_uris(source="share")) == set(uris.values())

    (folder / "new" / "kitchen.txt").unlink()
    r = app.sources.sync("share")
    assert r.counts["deleted"] == 1
    assert titles(app, "kitchen cleaned") == set()
    src = app.sources.get("share")
    assert src["state"] == "done" and src["last_error"] is None and src["items"] == {"indexed": 2}
    assert src["next_run_at"] is not None


def test_permissions_follow_the_configured_rules(app: Souverain, folder: Path) -> None:
    ident = app.identity
    alice, bob = ident.create_user("alice"), ident.create_user("bob")
    hr = ident.create_group("hr")
    ident.add_user_to_group(hr.id, alice.id)
    app.sources.add("share", "local", {"path": str(folder), "acl": {"": ["public"], "hr/": [f"group:{hr.id}"]}})
    assert app.sources.sync("share").status == "done"
    assert titles(app, "salary bands", ident.access_filter_for(alice.id)) == {"salaries"}
    assert titles(app, "salary bands", ident.access_filter_for(bob.id)) == set()
    assert titles(app, "train tickets", ident.access_filter_for(bob.id)) == {"travel"}

    # grant bob, then revoke: only the ACL rows change, nothing is downloaded again
    app.sources.update("share", settings={"path": str(folder), "acl": {"": ["public"], "hr/": [f"group:{hr.id}",
                                                                                          f"user:{bob.id}"]}})
    r = app.sources.sync("share")
    assert r.counts["permissions_updated"] == 1 and r.counts["updated"] == 0
    assert titles(app, "salary bands", ident.access_filter_for(bob.id)) == {"salaries"}
    app.sources.update("share", settings={"path": str(folder), "acl": {"": ["public"], "hr/": [f"group:{hr.id}"]}})
    app.sources.sync("share")
    assert titles(app, "salary bands", ident.access_filter_for(bob.id)) == set()

    # a path no rule covers is indexed but visible to nobody
    app.sources.update("share", settings={"path": str(folder), "acl": {"hr/": [f"group:{hr.id}"]}})
    app.sources.sync("share")
    assert titles(app, "train tickets", ident.access_filter_for(alice.id)) == set()
    assert app.store.get_document(app.sources.item_uris("share")["travel.md"]).principals == ()


def test_a_bad_file_is_reported_and_the_rest_is_indexed(app: Souverain, folder: Path) -> None:
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n this is not really a PDF")
    app.sources.add("share", "local", {"path": str(folder), "acl": {"": ["public"]}})
    r = app.sources.sync("share")
    assert r.status == "done"
    assert r.counts["added"] == 2 and r.counts["failed"] == 1
    [bad] = [rep for rep in r.reports if rep.status == "failed"]
    assert bad.uri.endswith("broken.pdf") and bad.reason in ("corrupt", "truncated") and bad.message
    # unchanged broken file is not parsed again; a fixed one is
    r = app.sources.sync("share")
    assert r.counts["failed"] == 0 and r.counts["unchanged"] == 3
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="The parking garage closes at midnight.")
    pdf.output(str(folder / "broken.pdf"))
    r = app.sources.sync("share")
    assert r.counts["added"] == 1 and r.counts["failed"] == 0  # it was never indexed before
    assert titles(app, "parking garage") == {"broken"}


def test_settings_are_validated_before_anything_is_stored(app: Souverain, folder: Path) -> None:
    with pytest.raises(SourceConfigError, match="absolute"):
        app.sources.add("s1", "local", {"path": "relative/dir", "acl": {"": ["public"]}})
    with pytest.raises(SourceConfigError, match="acl"):
        app.sources.add("s1", "local", {"path": str(folder), "acl": {}})
    with pytest.raises(SourceConfigError, match="invalid principal"):
        app.sources.add("s1", "local", {"path": str(folder), "acl": {"": ["everyone"]}})
    with pytest.raises(SourceConfigError, match="unknown source kind"):
        app.sources.add("s1", "dropbox", {})
    with pytest.raises(SourceConfigError, match="reserved"):
        app.sources.add("upload", "local", {"path": str(folder), "acl": {"": ["public"]}})
    with pytest.raises(SourceConfigError, match="pasword: Extra inputs"):
        app.sources.add("s1", "local", {"path": str(folder), "acl": {"": ["public"]}, "pasword": "x"})
    assert app.sources.all() == []
    app.sources.add("s1", "local", {"path": str(folder), "acl": {"": ["public"]}})
    with pytest.raises(SourceConfigError, match="already exists"):
        app.sources.add("s1", "local", {"path": str(folder), "acl": {"": ["public"]}})


def test_a_missing_folder_fails_the_sync_and_keeps_what_is_stored(app: Souverain, folder: Path, tmp_path: Path) -> None:
    app.sources.add("share", "local", {"path": str(folder), "acl": {"": ["public"]}})
    assert app.sources.sync("share").counts["added"] == 2
    folder.rename(tmp_path / "elsewhere")
    r = app.sources.sync("share")
    assert r.status == "failed" and r.error.startswith("not_found")
    assert titles(app, "train tickets") == {"travel"}  # nothing lost
    src = app.sources.get("share")
    assert src["state"] == "failed" and "not a folder" in src["last_error"]


def test_removing_a_source_removes_its_documents_only(app: Souverain, folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write(other / "menu.txt", "Soup of the day is tomato.")
    app.sources.add("share", "local", {"path": str(folder), "acl": {"": ["public"]}})
    app.sources.add("other", "local", {"path": str(other), "acl": {"": ["public"]}})
    app.sources.sync("share")
    app.sources.sync("other")
    assert app.sources.remove("share") == 2
    assert titles(app, "train tickets") == set()
    assert titles(app, "soup tomato") == {"menu"}
    assert [s["name"] for s in app.sources.all()] == ["other"]


def test_scheduled_and_watched_syncs_run_in_the_server(app: Souverain, folder: Path) -> None:
    app.sources.add("share", "local", {"path": str(folder), "acl": {"": ["public"]}}, schedule_minutes=60, watch=True)
    app.sources.schedule_poll_s = 0.2
    app.jobs.start()
    app.sources.start()
    try:
        deadline = time.monotonic() + 60
        while titles(app, "train tickets") != {"travel"} and time.monotonic() < deadline:
            time.sleep(0.2)  # a new source is due at once
        assert titles(app, "train tickets") == {"travel"}
        time.sleep(1.0)  # let the watcher start on the folder
        t0 = time.monotonic()
        write(folder / "fresh.txt", "The fire drill is on Tuesday morning.")
        while titles(app, "fire drill") != {"fresh"} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert titles(app, "fire drill") == {"fresh"}
        assert time.monotonic() - t0 < 20, "the watch mode picks up a change within seconds"
        jobs = [j for j in app.jobs.latest() if j["kind"] == "sync"]
        assert len(jobs) >= 2 and all(j["status"] in ("done", "running", "queued") for j in jobs)
    finally:
        app.sources.stop()
        app.jobs.stop()


def test_stored_documents_match_the_files(app: Souverain, folder: Path) -> None:
    app.sources.add("share", "local", {"path": str(folder), "acl": {"": ["public"]}})
    app.sources.sync("share")
    for item_id, uri in app.sources.item_uris("share").items():
        doc = app.store.get_document(uri)
        assert doc is not None and doc.sha256 == content_hash((folder / item_id).read_bytes())
        assert doc.source == "share" and doc.metadata["source_path"] == item_id
