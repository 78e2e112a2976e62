"""OpenID Connect sign-in end to end through the HTTP routes, against the local identity provider.

``/auth/oidc/login`` → the provider's authorize URL (PKCE S256, state, nonce) → the provider answers with a
code → ``/auth/oidc/callback`` → a session. Identity is (issuer, subject); group claims become ``oidc:<name>``
groups; replays, defective ID tokens and stale login states are refused without a session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from souverain.documents import RawDocument
from souverain.governance.oidc import pkce_challenge
from souverain.service import Souverain
from souverain.settings import Settings
from souverain.web.api import auth
from souverain.web.app import create_app

from ..governance.idp import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, LocalIdP, TokenKnobs
from .conftest import PASSWORD, login

API = "/api/v1"
SESSION = "souverain_session"


@pytest.fixture(scope="module")
def idp_server() -> Iterator[LocalIdP]:
    server = LocalIdP()
    yield server
    server.close()


@pytest.fixture
def idp(idp_server: LocalIdP) -> Iterator[LocalIdP]:
    idp_server.reset()
    user = dict(idp_server.user)
    yield idp_server
    idp_server.reset()
    idp_server.user = user


@pytest.fixture
def app_svc(tmp_path: Path, idp: LocalIdP) -> Iterator[tuple[Souverain, Any]]:
    settings = Settings(data_dir=tmp_path / "data", oidc_issuer=idp.issuer, oidc_client_id=CLIENT_ID,
                        oidc_client_secret=SecretStr(CLIENT_SECRET), oidc_redirect_uri=REDIRECT_URI)
    svc = Souverain(settings)
    svc.identity.create_user("admin", role="admin", password=PASSWORD)
    yield svc, create_app(settings, svc)
    client = svc.__dict__.get("_oidc_client")
    if client is not None:
        client.close()
    svc.close()


def begin(client: TestClient, idp: LocalIdP) -> tuple[str, dict[str, str]]:
    """``/auth/oidc/login``: check the redirect and return it with its query."""
    r = client.get("/auth/oidc/login", follow_redirects=False)
    assert r.status_code == 302, r.text
    url = r.headers["location"]
    assert url.startswith(f"{idp.issuer}/authorize?")
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32 and query["state"] != query["nonce"]
    assert query["client_id"] == CLIENT_ID and query["redirect_uri"] == REDIRECT_URI
    assert "openid" in query["scope"].split() and "code_verifier" not in query
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith(f"{auth.OIDC_COOKIE}=") and "httponly" in cookie and "path=/auth/oidc" in cookie
    return url, query


def callback(client: TestClient, params: dict[str, str]) -> Any:
    return client.get("/auth/oidc/callback", params=params, follow_redirects=False)


def sign_in(app: Any, idp: LocalIdP) -> TestClient:
    client = TestClient(app)
    url, _ = begin(client, idp)
    r = callback(client, idp.authorize(url))
    assert r.status_code == 302 and r.headers["location"] == "/", r.text
    assert client.cookies.get(SESSION)
    client.headers["X-CSRF-Token"] = client.get("/auth/me").json()["csrf_token"]
    return client


def test_login_redirect_carries_pkce_state_nonce(app_svc: tuple[Souverain, Any], idp: LocalIdP) -> None:
    svc, app = app_svc
    client = TestClient(app)
    url, query = begin(client, idp)
    pending = svc.__dict__["_oidc_pending"]._states
    (_, state), = pending.values()  # kept server-side, keyed by the random cookie only
    assert client.cookies.get(auth.OIDC_COOKIE) in pending
    assert query["code_challenge"] == pkce_challenge(state.code_verifier)
    assert (query["state"], query["nonce"]) == (state.state, state.nonce)
    assert state.code_verifier not in url
    idp.authorize(url)
    sent = idp.authorize_requests[-1]
    assert sent["code_challenge_method"] == "S256"


def test_sign_in_links_issuer_subject_and_maps_groups(app_svc: tuple[Souverain, Any], idp: LocalIdP) -> None:
    svc, app = app_svc
    client = sign_in(app, idp)
    me = client.get("/auth/me").json()["user"]
    assert me["role"] == "member" and me["display_name"] == "Ada Lovelace"
    user = svc.identity.user_for_identity(idp.issuer, "248289761001")
    assert user is not None and user.id == me["id"] and user.email == "ada@example.org"
    assert svc.identity.identities(user.id) == [(idp.issuer, "248289761001")]
    names = {svc.identity.group(g).name for g in svc.identity.groups_of(user.id)}
    assert names == {"oidc:engineering", "oidc:/org/research"}
    assert auth.OIDC_COOKIE not in client.cookies  # the login state's cookie is cleared

    # a document shared with the mapped group becomes readable on the next query
    admin = login(app, "admin")
    admin_id = svc.identity.user_by_name("admin").id
    svc.ingestor().ingest_raw(RawDocument(uri="mem://roadmap.txt", data=b"The quokka roadmap ships in spring.",
                                          principals=(f"user:{admin_id}",)))

    def hits() -> int:
        r = client.post(f"{API}/search", json={"query": "quokka roadmap", "mode": "lexical"})
        assert r.status_code == 200, r.text
        return len(r.json()["results"])

    assert hits() == 0
    group = svc.identity.group_by_name("oidc:engineering")
    doc_id = svc.store.get_document("mem://roadmap.txt").id  # type: ignore[union-attr]
    r = admin.post(f"{API}/documents/{doc_id}/share", json={"principals": [f"group:{group.id}"]})
    assert r.status_code == 200, r.text
    assert hits() == 1

    # the provider stops asserting the group: the next sign-in drops the membership, the next query the document
    idp.user = {**idp.user, "groups": ["/org/research"]}
    again = sign_in(app, idp)
    assert group.id not in svc.identity.groups_of(user.id)
    assert len(again.post(f"{API}/search", json={"query": "quokka roadmap", "mode": "lexical"}).json()["results"]) == 0


def test_same_subject_new_email_is_same_user_same_email_new_subject_is_not(
        app_svc: tuple[Souverain, Any], idp: LocalIdP) -> None:
    svc, app = app_svc
    first = sign_in(app, idp).get("/auth/me").json()["user"]
    idp.user = {**idp.user, "email": "ada.byron@example.org"}
    second = sign_in(app, idp).get("/auth/me").json()["user"]
    assert second["id"] == first["id"]
    assert svc.identity.user(first["id"]).email == "ada.byron@example.org"  # an attribute, kept current

    idp.user = {**idp.user, "sub": "other-subject-42", "email": "ada.byron@example.org", "name": "Impostor"}
    other = sign_in(app, idp).get("/auth/me").json()["user"]
    assert other["id"] != first["id"] and other["username"] != first["username"]
    assert svc.identity.user_for_identity(idp.issuer, "other-subject-42").id == other["id"]  # type: ignore[union-attr]
    assert svc.identity.identities(first["id"]) == [(idp.issuer, "248289761001")]


def test_replayed_callback_is_refused(app_svc: tuple[Souverain, Any], idp: LocalIdP) -> None:
    _, app = app_svc
    client = TestClient(app)
    url, _ = begin(client, idp)
    params = idp.authorize(url)
    state_cookie = client.cookies.get(auth.OIDC_COOKIE)
    assert callback(client, params).status_code == 302
    # the same state (and cookie) again, from the same browser or another one
    replay = TestClient(app, cookies={auth.OIDC_COOKIE: state_cookie})
    r = callback(replay, params)
    assert r.status_code == 400 and "start again" in r.json()["detail"]
    assert SESSION not in replay.cookies and "set-cookie" not in r.headers
    client.cookies.set(auth.OIDC_COOKIE, state_cookie, path="/auth/oidc")
    assert callback(client, params).status_code == 400


def test_callback_without_its_login_state_is_refused(app_svc: tuple[Souverain, Any], idp: LocalIdP) -> None:
    _, app = app_svc
    victim = TestClient(app)
    url, _ = begin(victim, idp)
    params = idp.authorize(url)
    attacker = TestClient(app)  # a callback URL planted in another browser: no login-state cookie there
    r = callback(attacker, params)
    assert r.status_code == 400 and SESSION not in attacker.cookies


@pytest.mark.parametrize(("knobs", "reason"), [
    (TokenKnobs(aud="someone-else"), "wrong_audience"),
    (TokenKnobs(alg="none"), "unsupported_alg"),
    (TokenKnobs(nonce="not-the-nonce-of-this-sign-in"), "bad_nonce"),
    (TokenKnobs(iss="https://evil.example"), "wrong_issuer"),
    (TokenKnobs(exp_offset=-3600, iat_offset=-7200), "expired"),
    (TokenKnobs(alg="HS256-public-key"), "unsupported_alg"),
    (TokenKnobs(kid="unknown-kid", rogue_key=True), "unknown_kid"),
])
def test_defective_id_token_fails_without_session(app_svc: tuple[Souverain, Any], idp: LocalIdP,
                                                   knobs: TokenKnobs, reason: str) -> None:
    svc, app = app_svc
    idp.knobs = knobs
    client = TestClient(app)
    url, _ = begin(client, idp)
    r = callback(client, idp.authorize(url))
    assert r.status_code == 401, r.text
    assert r.json()["detail"] == f"sign-in refused ({reason})"
    assert CLIENT_SECRET not in r.text and "eyJ" not in r.text
    assert SESSION not in client.cookies and SESSION not in r.headers.get("set-cookie", "")
    assert client.get("/auth/me").status_code == 401
    assert svc.identity.user_for_identity(idp.issuer, "248289761001") is None
    # the refused state is spent: a good token cannot be slipped in behind it
    idp.knobs = TokenKnobs()
    assert callback(client, idp.authorize(url)).status_code == 400


def test_pending_login_state_expires(app_svc: tuple[Souverain, Any], idp: LocalIdP,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _, app = app_svc
    client = TestClient(app)
    url, _ = begin(client, idp)
    params = idp.authorize(url)
    monkeypatch.setattr(auth, "OIDC_STATE_TTL_S", 0)
    r = callback(client, params)
    assert r.status_code == 400 and "expired" in r.json()["detail"]
    assert SESSION not in client.cookies


def test_pending_login_store_is_bounded(monkeypatch: pytest.MonkeyPatch, app_svc: tuple[Souverain, Any],
                                        idp: LocalIdP) -> None:
    _, app = app_svc
    monkeypatch.setattr(auth, "OIDC_MAX_PENDING", 3)
    first = TestClient(app)
    url, _ = begin(first, idp)
    params = idp.authorize(url)
    for _ in range(3):
        begin(TestClient(app), idp)
    assert len(app.state.souverain.__dict__["_oidc_pending"]._states) == 3
    assert callback(first, params).status_code == 400  # the oldest pending login made room


def test_disabled_oidc_user_gets_no_session(app_svc: tuple[Souverain, Any], idp: LocalIdP) -> None:
    svc, app = app_svc
    user_id = sign_in(app, idp).get("/auth/me").json()["user"]["id"]
    svc.identity.disable_user(user_id)
    client = TestClient(app)
    url, _ = begin(client, idp)
    r = callback(client, idp.authorize(url))
    assert r.status_code == 401 and SESSION not in client.cookies


def test_oidc_routes_404_when_not_configured(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "plain")
    svc = Souverain(settings)
    client = TestClient(create_app(settings, svc))
    assert client.get("/auth/oidc/login", follow_redirects=False).status_code == 404
    assert client.get("/auth/oidc/callback", params={"state": "x", "code": "y"}).status_code == 404
    svc.close()
