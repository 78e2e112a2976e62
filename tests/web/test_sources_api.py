"""Sources over HTTP: administrators configure and sync them; nobody else can; secrets never travel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import API, Web, wait_job


def _folder(tmp: Path, name: str) -> Path:
    root = tmp / name
    (root / "ops").mkdir(parents=True)
    (root / "ops" / "runbook.md").write_text("# Runbook\nRestart the ingestion gateway with the blue lever.")
    (root / "faq.txt").write_text("The helpdesk answers within four hours.")
    return root


def _titles(web: Web, query: str, client: Any = None) -> set[str]:
    r = (client or web.client).post(f"{API}/search", json={"query": query, "mode": "lexical"})
    assert r.status_code == 200, r.text
    return {h["title"].lower() for h in r.json()["results"]}


def test_admin_adds_syncs_updates_and_removes_a_source(web: Web, tmp_path: Path) -> None:
    root = _folder(tmp_path, "ops-share")
    c = web.client
    kinds = c.get(f"{API}/sources/kinds").json()["kinds"]
    assert {k["kind"] for k in kinds} >= {"local"}
    local = next(k for k in kinds if k["kind"] == "local")
    assert {"path", "acl"} <= set(local["settings_schema"]["properties"])

    bad = c.post(f"{API}/sources", json={"name": "ops", "kind": "local", "settings": {"path": "rel", "acl": {}}})
    assert bad.status_code == 400 and "path" in bad.json()["detail"] and "acl" in bad.json()["detail"]

    r = c.post(f"{API}/sources", json={"name": "ops", "kind": "local", "schedule_minutes": 0,
                                       "settings": {"path": str(root), "acl": {"": ["public"]}}})
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "never" and r.json()["settings"]["path"] == str(root)

    r = c.post(f"{API}/sources/ops/sync", json={})
    assert r.status_code == 202, r.text
    job = wait_job(c, r.json()["job"]["id"])
    assert job["kind"] == "sync" and job["status"] == "done", job
    assert {rep["status"] for rep in job["reports"]} == {"indexed"} and len(job["reports"]) == 2
    src = c.get(f"{API}/sources/ops").json()
    assert src["state"] == "done" and src["counts"]["added"] == 2 and src["items"] == {"indexed": 2}
    assert src["next_run_at"] is None  # manual only
    assert _titles(web, "blue lever") == {"runbook"}

    r = c.patch(f"{API}/sources/ops", json={"schedule_minutes": 30})
    assert r.status_code == 200 and r.json()["schedule_minutes"] == 30 and r.json()["next_run_at"]
    assert c.patch(f"{API}/sources/ops", json={"settings": {"path": str(root)}}).status_code == 400
    assert c.post(f"{API}/sources/ops/check").json() == {"ok": True, "message": f"folder {root}"}

    r = c.delete(f"{API}/sources/ops")
    assert r.status_code == 200 and r.json() == {"removed_documents": 2}
    assert _titles(web, "blue lever") == set()
    assert c.get(f"{API}/sources/ops").status_code == 404
    assert c.post(f"{API}/sources/ops/sync").status_code == 404


def test_members_cannot_see_or_change_sources(web: Web, tmp_path: Path) -> None:
    _, member = web.persona("sam")
    assert member.get(f"{API}/sources").status_code == 403
    assert member.post(f"{API}/sources", json={"name": "x", "kind": "local", "settings": {}}).status_code == 403
    assert member.post(f"{API}/sources/x/sync").status_code == 403


def test_credentials_are_references_never_values(web: Web) -> None:
    c = web.client
    r = c.post(f"{API}/sources", json={"name": "dav", "kind": "webdav", "settings": {
        "base_url": "https://cloud.example/remote.php/dav/files/alice/", "username": "alice",
        "password": "hunter2-plain-secret", "folders": ["Documents"], "acl": {"": ["public"]}}})
    assert r.status_code == 400, r.text
    assert "env:" in r.json()["detail"] and "hunter2" not in r.text
    assert "dav" not in {s["name"] for s in c.get(f"{API}/sources").json()["sources"]}


def test_a_second_sync_of_a_busy_source_is_refused(web: Web, tmp_path: Path) -> None:
    root = _folder(tmp_path, "busy")
    c = web.client
    assert c.post(f"{API}/sources", json={"name": "busy", "kind": "local", "schedule_minutes": 0,
                                          "settings": {"path": str(root), "acl": {"": ["public"]}}}).status_code == 201
    svc = web.svc
    # a sync of this source running in another live process (pid 1 stands for it)
    other = svc.jobs.table.create("sync", "running", [{"uri": "source:busy", "source": "busy"}], "elsewhere", 1, 0)
    r = c.post(f"{API}/sources/busy/sync")
    assert r.status_code == 409 and "already" in r.json()["detail"]
    assert c.delete(f"{API}/sources/busy").status_code == 409
    svc.jobs.table.finish(other, "done")
    r = c.post(f"{API}/sources/busy/sync")
    assert r.status_code == 202
    assert wait_job(c, r.json()["job"]["id"])["status"] == "done"
    assert c.delete(f"{API}/sources/busy").json() == {"removed_documents": 2}
