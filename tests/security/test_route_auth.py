"""Every route of the OpenAPI schema answers 401 without credentials, except an explicit allow-list.

Credentials are a session cookie or an ``Authorization: Bearer`` API key; a key in a URL is refused.
The OpenAI-compatible ``/v1`` routes take an API key only and answer in the OpenAI error shape
(``{"error": {"message", "type", "param", "code"}}``); every other route in ``{"detail": ...}``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient

from souverain.service import Souverain

ALLOW = {  # (method, path) answered without credentials
    ("GET", "/healthz"),
    ("GET", "/auth/setup"), ("POST", "/auth/setup"), ("POST", "/auth/login"),
    ("GET", "/auth/oidc/login"), ("GET", "/auth/oidc/callback"),
}
ALLOW_PREFIXES = ("/auth/",)  # every other /auth/* route (me, logout) still needs a session: checked below
NEEDS_SESSION_UNDER_AUTH = {("GET", "/auth/me"), ("POST", "/auth/logout"), ("POST", "/auth/logout-all")}


def _operations(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return [(m.upper(), path) for path, ops in spec["paths"].items() for m in ops if m in
            ("get", "post", "put", "patch", "delete")]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _is_openai(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def _assert_unauthenticated_body(path: str, r: httpx.Response) -> None:
    body = r.json()
    if _is_openai(path):  # the OpenAI error shape, as OpenAI clients expect it
        assert set(body) == {"error"}, (path, body)
        error = body["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"], (path, body)
        assert error["code"] == "invalid_api_key", (path, body)
        assert r.headers.get("www-authenticate") == "Bearer", (path, dict(r.headers))
    else:
        assert body == {"detail": body.get("detail")} and body["detail"], (path, body)


def test_every_schema_route_needs_authentication(app_svc: tuple[Souverain, Any]) -> None:
    _, app = app_svc
    client = TestClient(app)
    ops = _operations(client)
    assert len(ops) >= 30, ops
    protected = [op for op in ops if op not in ALLOW]
    assert set(protected) >= NEEDS_SESSION_UNDER_AUTH
    for method, path in protected:
        r = client.request(method, _concrete(path), json={})
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        _assert_unauthenticated_body(path, r)
    assert any(_is_openai(p) for _, p in protected), "the /v1 routes are in the schema and checked"
    # every allow-listed route is under /healthz or /auth/ and is really in the schema
    assert set(ops) >= ALLOW
    assert all(p == "/healthz" or p.startswith(ALLOW_PREFIXES) for _, p in ALLOW)


def test_garbage_credentials_are_401(app_svc: tuple[Souverain, Any]) -> None:
    _, app = app_svc
    client = TestClient(app)
    for headers in ({"Authorization": "Bearer sv_nope"}, {"Authorization": "Basic YWRtaW46eA=="},
                    {"Authorization": "Bearer"}, {"Cookie": "souverain_session=forged"}):
        r = client.get("/api/v1/documents", headers=headers)
        assert r.status_code == 401, headers


def test_allow_listed_pages_and_assets_need_no_credentials(app_svc: tuple[Souverain, Any]) -> None:
    _, app = app_svc
    client = TestClient(app)
    for path in ("/", "/healthz", "/openapi.json", "/docs", "/redoc", "/auth/setup"):
        assert client.get(path).status_code == 200, path
    assert client.get("/auth/oidc/login").status_code == 404  # not configured


def test_api_keys_in_the_url_are_refused(app_svc: tuple[Souverain, Any]) -> None:
    svc, app = app_svc
    key = svc.identity.create_api_key(svc.identity.user_by_name("admin").id, ["read"]).key
    client = TestClient(app)
    assert client.get("/api/v1/documents", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    for query in (f"api_key={key}", f"key={key}", f"q={key}", f"access_token={key}"):
        r = client.get(f"/api/v1/documents?{query}", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 400 and key not in r.text, query
