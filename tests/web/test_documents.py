"""Documents over HTTP: uploads as jobs, listing with status, pages, originals, delete, re-ingest, ACL."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..conftest import EXAMPLES
from .conftest import API, Web, make_client, wait_job


def test_upload_job_reports_every_file_and_a_bad_file_fails_alone(web: Web) -> None:
    job = web.upload_job
    assert job["status"] == "done" and job["kind"] == "upload" and job["total"] == job["done"] == 3
    assert job["error"] is None and job["started_at"] and job["finished_at"] and job["current"] == ""
    reports = {r["uri"]: r for r in job["reports"]}
    assert reports["upload:employee-handbook.pdf"]["status"] == "indexed"
    assert reports["upload:product-faq.html"]["status"] == "indexed"
    assert reports["upload:broken.docx"]["status"] == "failed" and reports["upload:broken.docx"]["message"]
    assert web.client.get(f"{API}/jobs").json()["jobs"][-1]["id"] == job["id"]


def test_list_shows_status_and_failed_uploads(web: Web) -> None:
    docs = {d["document"]: d for d in web.client.get(f"{API}/documents").json()["documents"]}
    pdf = docs["upload:employee-handbook.pdf"]
    assert isinstance(pdf["id"], int) and pdf["status"] == "indexed" and pdf["pages"] >= 5 and pdf["chars"] > 0
    assert pdf["format"] == "pdf" and pdf["source"] == "upload" and pdf["chunks"] > 0
    broken = docs["upload:broken.docx"]
    assert broken["id"] is None and broken["status"] == "failed" and broken["reason"] and broken["message"]
    one = web.client.get(f"{API}/documents/{pdf['id']}").json()
    assert one == pdf


def test_page_preview_holds_the_cited_quote_at_its_span(web: Web) -> None:
    a = web.client.post(f"{API}/ask", json={"question": "How many days of paid annual leave do employees get?"}).json()
    c = a["citations"][0]
    doc_id = web.doc_id(c["document"])
    p = web.client.get(f"{API}/documents/{doc_id}/pages/{c['page']}").json()
    assert p["page"] == c["page"] == 3 and p["pages"] >= 5 and p["title"] and p["document"] == c["document"]
    assert p["text"][c["char_start"]:c["char_end"]] == c["quote"] and "25 days" in c["quote"]
    r = web.client.get(f"{API}/documents/{doc_id}/pages/99")
    assert r.status_code == 404 and "page 99" in r.json()["detail"]


def test_original_file_bytes_and_headers(web: Web) -> None:
    pdf = web.client.get(f"{API}/documents/{web.doc_id('upload:employee-handbook.pdf')}/file")
    assert pdf.status_code == 200 and pdf.content == (EXAMPLES / "employee-handbook.pdf").read_bytes()
    assert pdf.headers["content-type"] == "application/pdf" and pdf.headers["x-content-type-options"] == "nosniff"
    assert pdf.headers["content-disposition"].startswith("inline;") and "employee-handbook.pdf" in pdf.headers[
        "content-disposition"]
    html = web.client.get(f"{API}/documents/{web.doc_id('upload:product-faq.html')}/file")
    assert html.content == (EXAMPLES / "product-faq.html").read_bytes()
    assert html.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in html.headers["content-security-policy"] and html.headers["x-content-type-options"] == "nosniff"


def test_reingest_forces_a_parse_and_delete_removes_document_and_file(web: Web) -> None:
    c = web.client
    data = (EXAMPLES / "release-notes.md").read_bytes()
    job = wait_job(c, c.post(f"{API}/documents", files=[("files", ("notes/release-notes.md", data))]).json()["job"]["id"])
    assert [r["status"] for r in job["reports"]] == ["indexed"]
    doc_id = web.doc_id("upload:notes/release-notes.md")
    r = c.post(f"{API}/documents/{doc_id}/reingest")
    assert r.status_code == 202 and r.json()["job"]["kind"] == "reingest"
    again = wait_job(c, r.json()["job"]["id"])
    assert again["status"] == "done" and again["reports"][0]["status"] == "indexed"  # not "unchanged": forced
    doc_id = web.doc_id("upload:notes/release-notes.md")
    stored = web.svc.files.path(hashlib.sha256(data).hexdigest())
    assert stored.is_file()
    assert c.delete(f"{API}/documents/{doc_id}").status_code == 204
    assert c.get(f"{API}/documents/{doc_id}").status_code == 404
    assert not stored.exists()
    assert "upload:notes/release-notes.md" not in {d["document"] for d in c.get(f"{API}/documents").json()["documents"]}
    hits = c.post(f"{API}/search", json={"query": "release notes", "k": 20}).json()["results"]
    assert all(h["document"] != "upload:notes/release-notes.md" for h in hits)


def test_a_document_the_caller_cannot_read_is_404_everywhere(web: Web, tmp_path: Path) -> None:
    secret = tmp_path / "salaries.md"
    secret.write_text("# Salaries\n\nThe salary band for engineers is confidential and set by HR.\n")
    rep = web.svc.ingestor(principals=("group:hr",)).ingest_file(secret)
    assert rep.status == "indexed"
    record = web.svc.store.get_document(str(secret))
    assert record is not None and record.id is not None
    c, doc_id = web.client, record.id
    for method, path in (("GET", ""), ("GET", "/pages/1"), ("GET", "/file"), ("DELETE", ""), ("POST", "/reingest")):
        r = c.request(method, f"{API}/documents/{doc_id}{path}")
        assert r.status_code == 404 and r.json()["detail"] == "document not found", (method, path)
    assert str(secret) not in {d["document"] for d in c.get(f"{API}/documents").json()["documents"]}
    assert web.svc.store.get_document(str(secret)) is not None  # the DELETE did nothing


def test_local_file_is_served_only_while_unchanged(tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "policy.md"
    doc.parent.mkdir()
    doc.write_text("# Policy\n\nVisitors must sign in at the front desk.\n")
    with make_client(tmp_path / "data") as client:
        svc = client.app.state.souverain  # type: ignore[attr-defined]
        assert svc.ingest([doc])[0].status == "indexed"
        record = svc.store.get_document(str(doc))
        r = client.get(f"{API}/documents/{record.id}/file")
        assert r.status_code == 200 and r.content == doc.read_bytes()
        assert r.headers["content-type"].startswith("text/markdown")
        doc.write_text("# Policy\n\nChanged after indexing.\n")
        r = client.get(f"{API}/documents/{record.id}/file")
        assert r.status_code == 404 and "changed since it was indexed" in r.json()["detail"]
        doc.unlink()
        r = client.get(f"{API}/documents/{record.id}/file")
        assert r.status_code == 404 and "no longer" in r.json()["detail"]


def test_path_traversal_names_are_harmless(web: Web, tmp_path: Path) -> None:
    c = web.client
    before = {p.name for p in web.svc.settings.data_dir.rglob("*")}
    names = ["../../etc/evil<script>.txt", "..\\..\\windows\\win.ini.txt", "/abs/olute.txt", "....//x/../y.txt", ".."]
    files = [("files", (n, f"harmless text number {i} about traversal".encode())) for i, n in enumerate(names)]
    job = wait_job(c, c.post(f"{API}/documents", files=files).json()["job"]["id"])
    uris = [r["uri"] for r in job["reports"]]
    for uri in uris:
        name = uri.removeprefix("upload:")
        assert uri.startswith("upload:") and ".." not in name.split("/") and "\\" not in name
        assert "<" not in name and not name.startswith("/")
    data_dir = web.svc.settings.data_dir
    new = {p for p in data_dir.rglob("*") if p.name not in before}
    assert all(p.parent == data_dir / "files" for p in new), new  # only content-addressed files appeared
    assert not (tmp_path.parent / "etc").exists()
    doc_id = web.doc_id(uris[0])
    r = c.get(f"{API}/documents/{doc_id}/file")
    assert r.status_code == 200 and r.content == b"harmless text number 0 about traversal"
    assert "/" not in r.headers["content-disposition"] and "<" not in r.headers["content-disposition"]


def test_upload_without_files_is_rejected(web: Web) -> None:
    assert web.client.post(f"{API}/documents").status_code == 422
