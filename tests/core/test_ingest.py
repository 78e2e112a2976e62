"""Ingestion as a user sees it: per-file reports, bad input isolated, incremental re-ingest."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from souverain.documents import AccessFilter, Chunk, Page
from souverain.index.base import DocumentRecord
from souverain.service import Souverain

from ..conftest import EXAMPLES, make_app

PUBLIC = AccessFilter.public()


def _lexical_titles(app: Souverain, query: str) -> list[str]:
    return [h.doc_uri for h in app.search(query, PUBLIC, mode="lexical").hits]


def test_examples_every_format_indexed_with_report(examples_app: Souverain, examples_dir: Path) -> None:
    docs = {Path(d.uri).name: d for d in examples_app.store.list_documents(PUBLIC)}
    assert {"employee-handbook.pdf", "it-security-policy.docx", "travel-expenses.xlsx", "product-faq.html",
            "release-notes.md", "supplier-update.eml", "anzen-kitei-ja.md"} <= set(docs)
    assert docs["employee-handbook.pdf"].page_count >= 5
    assert docs["anzen-kitei-ja.md"].language == "ja"
    assert docs["politique-teletravail-fr.docx"].language == "fr"
    assert docs["datenschutz-richtlinie-de.html"].language == "de"
    st = examples_app.status()
    assert st["chunks_awaiting_embeddings"] == 0
    assert st["vectors"] == st["chunks"] > 0


def test_bad_files_fail_alone_and_batch_continues(app: Souverain, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    shutil.copy(EXAMPLES / "release-notes.md", folder / "release-notes.md")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthis is not a pdf body")
    (folder / "truncated.pdf").write_bytes((EXAMPLES / "employee-handbook.pdf").read_bytes()[:1500])
    (folder / "blob.bin").write_bytes(os.urandom(4096))
    (folder / "latin1.txt").write_bytes("Le café coûte 2 € à l'entrée du bâtiment.".encode("cp1252"))
    reports = {Path(r.uri).name: r for r in app.ingest([folder])}
    assert reports["release-notes.md"].status == "indexed"
    assert reports["latin1.txt"].status == "indexed"
    for name in ("empty.txt", "corrupt.pdf", "truncated.pdf", "blob.bin"):
        assert reports[name].status == "failed", name
        assert reports[name].reason and reports[name].message, name
    assert reports["empty.txt"].reason == "empty_file"
    assert reports["blob.bin"].reason == "unsupported_format"
    # the good files are searchable, the bad ones are not in the index at all
    assert str(folder / "release-notes.md") in _lexical_titles(app, "release notes version")
    assert any("café" in h.text for h in app.search("café bâtiment", PUBLIC, mode="lexical").hits)
    assert app.store.get_document(str(folder / "corrupt.pdf")) is None


def test_size_limit_is_a_clear_per_file_error(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data", max_file_mb=0.001)
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000)
    (rep,) = app.ingest([big])
    assert rep.status == "failed" and rep.reason == "file_too_large"
    assert "limit" in rep.message
    app.close()


def test_reingest_skips_unchanged_replaces_changed_and_removes_deleted(app: Souverain, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# Parking\n\nThe visitor car park has 40 spaces near gate B.\n")
    (folder / "b.md").write_text("# Canteen\n\nThe canteen opens at 11:30 and closes at 14:00.\n")
    first = {Path(r.uri).name: r.status for r in app.ingest([folder])}
    assert first == {"a.md": "indexed", "b.md": "indexed"}
    second = {Path(r.uri).name: r.status for r in app.ingest([folder])}
    assert second == {"a.md": "unchanged", "b.md": "unchanged"}

    (folder / "a.md").write_text("# Parking\n\nThe visitor car park has 65 spaces near gate C.\n")
    (folder / "b.md").unlink()
    third = {Path(r.uri).name: r.status for r in app.ingest([folder])}
    assert third == {"a.md": "indexed", "b.md": "removed"}
    texts = [h.text for h in app.search("visitor car park spaces", PUBLIC, mode="lexical").hits]
    assert texts and all("65 spaces" in t for t in texts)
    assert not any("40 spaces" in t for t in texts)
    assert app.search("canteen opens", PUBLIC, mode="lexical").hits == []
    assert app.store.conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 1


def test_failed_update_keeps_the_stored_version(app: Souverain, tmp_path: Path) -> None:
    pdf = tmp_path / "handbook.pdf"
    shutil.copy(EXAMPLES / "employee-handbook.pdf", pdf)
    assert app.ingest([pdf])[0].status == "indexed"
    pdf.write_bytes(b"%PDF-1.4 broken")
    rep = app.ingest([pdf])[0]
    assert rep.status == "failed"
    hits = app.search("paid annual leave", PUBLIC, mode="lexical").hits
    assert hits and hits[0].doc_uri == str(pdf)


def test_scanned_pdf_reports_no_text_instead_of_indexing_nothing(app: Souverain, tmp_path: Path) -> None:
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 is a dev dependency used to draw a text-less PDF")
    doc = fpdf.FPDF()
    doc.add_page()
    doc.rect(20, 20, 100, 60, style="F")
    path = tmp_path / "scan.pdf"
    doc.output(str(path))
    (rep,) = app.ingest([path])
    assert rep.status == "no_text"
    assert "OCR" in rep.message
    assert app.store.get_document(str(path)) is None
    assert app.status()["files_failed_or_without_text"] == 1


def test_replace_is_atomic_when_a_write_fails(app: Souverain, tmp_path: Path) -> None:
    f = tmp_path / "policy.md"
    f.write_text("# Badges\n\nLost badges must be reported to reception within 24 hours.\n")
    app.ingest([f])
    before = app.store.get_document(str(f))
    assert before is not None
    record = DocumentRecord(uri=str(f), title="policy", source="local", format="markdown", sha256="x",
                            size_bytes=1, principals=("public",))
    good = Chunk(str(f), 0, "new text", 1, 0, 8)
    bad = Chunk(str(f), 1, None, 1, 0, 8)  # type: ignore[arg-type]  # violates NOT NULL inside the transaction
    with pytest.raises((sqlite3.IntegrityError, TypeError, AttributeError)):
        app.store.replace_document(record, [Page(1, "new text")], [good, bad])
    after = app.store.get_document(str(f))
    assert after is not None and after.sha256 == before.sha256 and after.chunk_count == before.chunk_count
    hits = app.search("lost badges reception", PUBLIC, mode="lexical").hits
    assert hits and "24 hours" in hits[0].text


def test_embeddings_are_cached_by_content(app: Souverain, tmp_path: Path) -> None:
    f = tmp_path / "note.md"
    f.write_text("# Fire drill\n\nThe yearly fire drill takes place on the first Monday of October.\n")
    app.ingest([f])
    assert app.worker.drain() == 1
    assert app.worker.embedded_total == 1
    moved = tmp_path / "moved.md"
    f.rename(moved)
    app.ingest([moved])
    app.store.delete_document(str(f))
    assert app.worker.drain() == 1
    assert app.worker.embedded_total == 1  # served from the cache, not recomputed
    assert app.worker.cache_hits_total == 1
