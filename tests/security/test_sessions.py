"""Sessions, CSRF, cookie flags, sign-out, disabling, membership changes, API-key scopes, first-run setup."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from souverain.documents import RawDocument
from souverain.service import Souverain

from .conftest import PASSWORD, login, make

API = "/api/v1"


def test_first_run_setup_then_409(tmp_path: Any) -> None:
    svc, app = make(tmp_path / "d")
    c = TestClient(app)
    assert c.get("/auth/setup").json() == {"needed": True}
    r = c.post("/auth/setup", json={"username": "root", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["user"]["role"] == "admin"
    assert c.get("/auth/me").json()["user"]["username"] == "root"
    assert c.get("/auth/setup").json() == {"needed": False}
    assert TestClient(app).post("/auth/setup", json={"username": "evil", "password": PASSWORD}).status_code == 409
    svc.close()


def test_cookie_flags_and_rotation(app_svc: tuple[Souverain, Any]) -> None:
    _, app = app_svc
    c = TestClient(app, base_url="https://testserver")
    r = c.post("/auth/login", json={"username": "admin", "password": PASSWORD})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie and "path=/" in cookie
    first = c.cookies.get("souverain_session")
    r2 = c.post("/auth/login", json={"username": "admin", "password": PASSWORD})
    second = c.cookies.get("souverain_session")
    assert first and second and first != second and r2.json()["csrf_token"] != r.json()["csrf_token"]
    old = TestClient(app, base_url="https://testserver", cookies={"souverain_session": first})
    assert old.get("/auth/me").status_code == 401  # the pre-login session ended at sign-in
    plain = TestClient(app).post("/auth/login", json={"username": "admin", "password": PASSWORD})
    assert "secure" not in plain.headers["set-cookie"].lower()
    assert TestClient(app).post("/auth/login", json={"username": "admin", "password": "wrong"}).status_code == 401


def test_csrf_needed_for_cookie_writes_not_for_keys(app_svc: tuple[Souverain, Any]) -> None:
    svc, app = app_svc
    c = login(app, "admin")
    token = c.headers.pop("X-CSRF-Token")
    assert c.post(f"{API}/conversations", json={}).status_code == 403
    assert c.post(f"{API}/conversations", json={}, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    assert c.post(f"{API}/conversations", json={}, headers={"X-CSRF-Token": token}).status_code == 201
    assert c.get(f"{API}/conversations").status_code == 200  # reads need no token
    key = svc.identity.create_api_key(svc.identity.user_by_name("admin").id, ["ask"]).key
    assert TestClient(app).post(f"{API}/conversations", json={},
                                headers={"Authorization": f"Bearer {key}"}).status_code == 201


def test_logout_and_logout_all_end_sessions(app_svc: tuple[Souverain, Any]) -> None:
    _, app = app_svc
    a, b = login(app, "admin"), login(app, "admin")
    assert a.post("/auth/logout").status_code == 204
    assert a.get("/auth/me").status_code == 401
    assert b.get("/auth/me").status_code == 200
    c = login(app, "admin")
    assert c.post("/auth/logout-all").status_code == 204
    assert b.get("/auth/me").status_code == 401 and c.get("/auth/me").status_code == 401


def test_disabled_user_is_401_on_the_next_request(app_svc: tuple[Souverain, Any]) -> None:
    svc, app = app_svc
    admin = login(app, "admin")
    r = admin.post(f"{API}/admin/users", json={"username": "bob", "password": PASSWORD})
    assert r.status_code == 201, r.text
    bob_id = r.json()["id"]
    bob = login(app, "bob")
    key = svc.identity.create_api_key(bob_id, ["read"]).key
    keyed = TestClient(app, headers={"Authorization": f"Bearer {key}"})
    assert bob.get(f"{API}/documents").status_code == 200 and keyed.get(f"{API}/documents").status_code == 200
    assert admin.post(f"{API}/admin/users/{bob_id}/disable").json()["disabled"] is True
    assert bob.get(f"{API}/documents").status_code == 401 and keyed.get(f"{API}/documents").status_code == 401
    assert TestClient(app).post("/auth/login", json={"username": "bob", "password": PASSWORD}).status_code == 401


def test_membership_and_sharing_changes_are_effective_on_the_next_query(app_svc: tuple[Souverain, Any]) -> None:
    svc, app = app_svc
    admin = login(app, "admin")
    admin_id = svc.identity.user_by_name("admin").id  # admins read only what is shared with them too
    carol_id = admin.post(f"{API}/admin/users", json={"username": "carol", "password": PASSWORD}).json()["id"]
    group = admin.post(f"{API}/admin/groups", json={"name": "finance"}).json()
    svc.ingestor().ingest_raw(RawDocument(uri="mem://budget.txt", data=b"The zanzibar budget is forty thousand euros.",
                                          principals=(f"group:{group['id']}", f"user:{admin_id}")))
    carol = login(app, "carol")

    def hits() -> int:
        r = carol.post(f"{API}/search", json={"query": "zanzibar budget", "mode": "lexical"})
        assert r.status_code == 200, r.text
        return len(r.json()["results"])

    assert hits() == 0
    assert admin.post(f"{API}/admin/groups/{group['id']}/members", json={"user_id": carol_id}).status_code == 200
    assert hits() == 1
    assert admin.request("DELETE", f"{API}/admin/groups/{group['id']}/members", json={"user_id": carol_id}).status_code == 200
    assert hits() == 0
    doc_id = svc.store.get_document("mem://budget.txt").id  # type: ignore[union-attr]
    r = admin.post(f"{API}/documents/{doc_id}/share", json={"principals": [f"user:{carol_id}"]})
    assert r.status_code == 200, r.text
    assert hits() == 1
    r = admin.request("DELETE", f"{API}/documents/{doc_id}/share", json={"principals": [f"user:{carol_id}"]})
    assert r.status_code == 200
    assert hits() == 0


def test_api_key_scopes_and_roles(app_svc: tuple[Souverain, Any]) -> None:
    svc, app = app_svc
    ident = svc.identity
    admin = ident.user_by_name("admin")
    auditor = ident.create_user("audrey", role="auditor", password=PASSWORD)

    def client(user_id: int, scopes: list[str]) -> TestClient:
        return TestClient(app, headers={"Authorization": f"Bearer {ident.create_api_key(user_id, scopes).key}"})

    read = client(admin.id, ["read"])
    assert read.get(f"{API}/documents").status_code == 200
    assert read.post(f"{API}/search", json={"query": "x", "mode": "lexical"}).status_code == 200
    assert read.post(f"{API}/ask", json={"question": "x", "mode": "extractive"}).status_code == 403
    assert read.post(f"{API}/documents", files=[("files", ("a.txt", b"hello"))]).status_code == 403
    assert read.get(f"{API}/admin/users").status_code == 403
    ask = client(admin.id, ["ask"])
    assert ask.get(f"{API}/documents").status_code == 403 and ask.get(f"{API}/conversations").status_code == 200
    assert client(admin.id, ["admin"]).get(f"{API}/admin/users").status_code == 200
    # an auditor reads and asks, never ingests or administers, whatever its key says
    aud = client(auditor.id, ["read", "ask", "ingest", "admin"])
    assert aud.get(f"{API}/documents").status_code == 200
    assert aud.post(f"{API}/documents", files=[("files", ("a.txt", b"hello"))]).status_code == 403
    assert aud.get(f"{API}/admin/users").status_code == 403
    sess = login(app, "audrey")
    assert sess.get(f"{API}/admin/keys").status_code == 403
    assert sess.post(f"{API}/me/keys", json={"scopes": ["ingest"]}).status_code == 403
    r = sess.post(f"{API}/me/keys", json={"scopes": ["read"], "name": "mine"})
    assert r.status_code == 201 and r.json()["key"].startswith("sv_")
    assert r.json()["key"] not in sess.get(f"{API}/me/keys").text  # shown once
    assert sess.request("DELETE", f"{API}/me/keys/{r.json()['public_id']}").status_code == 204
    assert TestClient(app, headers={"Authorization": f"Bearer {r.json()['key']}"}).get(f"{API}/documents").status_code == 401
