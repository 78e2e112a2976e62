"""The HTTP API over a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from souverain.settings import Settings
from souverain.web.app import create_app

from ..conftest import EXAMPLES, sse_events

AUTH: dict[str, str] = {}  # the administrator's bearer key, set by the fixture


def _get(url: str, **kw: Any) -> httpx.Response:
    return httpx.get(url, headers=AUTH, **kw)


def _post(url: str, **kw: Any) -> httpx.Response:
    return httpx.post(url, headers=AUTH, **kw)


def _stream(method: str, url: str, **kw: Any) -> Any:
    return httpx.stream(method, url, headers=AUTH, **kw)


def _wait_job(url: str, job: dict, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while job["status"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.1)
        job = _get(f"{url}/api/v1/jobs/{job['id']}").json()
    return job


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("api-data"))
    app = create_app(settings)
    ident = app.state.souverain.identity
    admin = ident.create_user("admin", role="admin", password="correct horse battery staple")
    AUTH["Authorization"] = "Bearer " + ident.create_api_key(admin.id, ("read", "ask", "ingest", "admin")).key
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if _get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    files = [("files", (name, (EXAMPLES / name).read_bytes())) for name in ("employee-handbook.pdf", "product-faq.html")]
    files.append(("files", ("broken.docx", b"PK\x03\x04 definitely not a docx")))
    r = _post(url + "/api/v1/documents", files=files, timeout=120)
    assert r.status_code == 202
    job = _wait_job(url, r.json()["job"])  # the files are ingested by a background job
    assert job["status"] == "done"
    reports = {rep["uri"]: rep for rep in job["reports"]}
    assert reports["upload:employee-handbook.pdf"]["status"] == "indexed"
    assert reports["upload:broken.docx"]["status"] == "failed" and reports["upload:broken.docx"]["message"]
    deadline = time.time() + 300  # the background worker embeds the uploads
    while _get(url + "/healthz").json()["chunks_awaiting_embeddings"] and time.time() < deadline:
        time.sleep(0.5)
    yield url
    server.should_exit = True
    thread.join(30)


def test_health_and_documents(base_url: str) -> None:
    h = _get(base_url + "/healthz").json()
    assert h["status"] == "ok" and h["documents"] == 2 and h["chunks_awaiting_embeddings"] == 0
    docs = _get(base_url + "/api/v1/documents").json()["documents"]
    assert {d["document"] for d in docs if d["id"] is not None} == {"upload:employee-handbook.pdf", "upload:product-faq.html"}
    assert [(d["document"], d["status"]) for d in docs if d["id"] is None] == [("upload:broken.docx", "failed")]
    assert next(d for d in docs if d["format"] == "pdf")["pages"] >= 5


def test_search(base_url: str) -> None:
    r = _post(base_url + "/api/v1/search", json={"query": "R2 warranty years", "k": 3})
    assert r.status_code == 200
    res = r.json()["results"]
    assert res[0]["document"] == "upload:product-faq.html" and "warranty" in res[0]["text"].lower()
    r = _post(base_url + "/api/v1/search", json={"query": "warranty", "filters": {"file_types": ["pdf"]}})
    assert all(x["format"] == "pdf" for x in r.json()["results"])


def test_ask_json(base_url: str) -> None:
    r = _post(base_url + "/api/v1/ask", json={"question": "How many days of paid annual leave do employees get?"},
                   timeout=120)
    assert r.status_code == 200
    a = r.json()
    assert not a["abstained"] and "25 days" in a["answer"]
    c = a["citations"][0]
    assert c["document"] == "upload:employee-handbook.pdf" and c["page"] == 3 and "25 days" in c["quote"]
    assert a["flags"]["truncated_context"] is False and "retrieve_s" in a["timings"]


def test_ask_streams_server_sent_events(base_url: str) -> None:
    with _stream("POST", base_url + "/api/v1/ask", timeout=120,
                      json={"question": "What warranty comes with the R2?", "stream": True}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.iter_lines())
    assert events[0][0] == "delta" and events[-1][0] == "answer"
    final = json.loads(events[-1][1])
    assert "3-year warranty" in final["answer"] and final["citations"][0]["document"] == "upload:product-faq.html"


def test_bad_requests_are_clear(base_url: str) -> None:
    assert _post(base_url + "/api/v1/search", json={"query": ""}).status_code == 422
    assert _post(base_url + "/api/v1/ask", json={"question": "   "}).status_code == 400
    assert _post(base_url + "/api/v1/search", json={"query": "x", "mode": "magic"}).status_code == 422
    spec = _get(base_url + "/openapi.json").json()
    assert {"/api/v1/search", "/api/v1/ask", "/api/v1/documents", "/api/v1/jobs/{job_id}", "/healthz"} <= set(spec["paths"])


def test_start_page_never_renders_html(base_url: str) -> None:
    r = _get(base_url + "/")
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'self': no inline scripts
    page = r.text
    assert "http://" not in page.replace("http://127.0.0.1", "") and "https://" not in page
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page)
    assert all('type="application/json"' in attrs for attrs in inline)  # data blocks only, never code
    todo, seen = re.findall(r'<script[^>]*\bsrc="([^"]+)"', page), set()
    while todo:  # every script the page loads, following module imports
        src = todo.pop()
        if src in seen:
            continue
        seen.add(src)
        js = _get(base_url + src).text
        assert "innerHTML" not in js and "outerHTML" not in js and "insertAdjacentHTML" not in js, src
        base = src.rsplit("/", 1)[0]
        todo += [f"{base}/{m.removeprefix('./')}" for m in re.findall(r'from\s+"(\./[^"]+)"', js)]
    assert seen


def test_upload_path_is_sanitised(base_url: str, tmp_path: Path) -> None:
    r = _post(base_url + "/api/v1/documents", files=[("files", ("../../etc/evil<script>.txt", b"hello world"))])
    assert r.status_code == 202
    uri = _wait_job(base_url, r.json()["job"])["reports"][0]["uri"]
    name = uri.removeprefix("upload:")  # a display name only: the bytes are stored by content hash
    assert ".." not in name.split("/") and not name.startswith("/") and "<" not in name


def test_model_failure_is_a_clear_503_without_internal_details(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from souverain.documents import RawDocument
    from souverain.llm.openai_compat import OpenAICompatLLM
    from souverain.service import Souverain

    settings = Settings(data_dir=tmp_path / "d", answer_mode="generative")
    svc = Souverain(settings, llm=OpenAICompatLLM("http://127.0.0.1:9/v1", "mistral-small", api_key="sk-secret-123"))
    svc.ingestor().ingest_raw(RawDocument(uri="mem://a.txt", data=b"The car park has 40 spaces."))
    with TestClient(create_app(settings, svc)) as client:
        admin = svc.identity.create_user("admin", role="admin")
        client.headers["Authorization"] = "Bearer " + svc.identity.create_api_key(admin.id, ("read", "ask")).key
        r = client.post("/api/v1/ask", json={"question": "How many spaces has the car park?", "mode": "generative"})
        assert r.status_code == 503
        assert "127.0.0.1:9" not in r.text and "sk-secret" not in r.text and "language model" in r.json()["detail"]
        with client.stream("POST", "/api/v1/ask", json={"question": "car park?", "mode": "generative",
                                                        "stream": True}) as s:
            body = "".join(s.iter_text())
        assert "event: error" in body and "127.0.0.1:9" not in body and "sk-secret" not in body
