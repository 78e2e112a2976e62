"""OpenID Connect sign-in against a real local identity provider (tests/governance/idp.py).

Each defective ID token an attacker or a broken provider can produce is refused with its own reason;
valid RS256 and ES256 sign-ins yield (issuer, subject, groups); no error message carries a secret.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from souverain.governance.oidc import LoginState, OIDCClient, OIDCError, OIDCIdentity, OIDCProvider, pkce_challenge

from .idp import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, LocalIdP, TokenKnobs, b64url


@pytest.fixture(scope="module")
def idp_server() -> Iterator[LocalIdP]:
    server = LocalIdP()
    yield server
    server.close()


@pytest.fixture
def idp(idp_server: LocalIdP) -> Iterator[LocalIdP]:
    idp_server.reset()
    yield idp_server
    idp_server.reset()


def provider(idp: LocalIdP, **overrides: Any) -> OIDCProvider:
    fields: dict[str, Any] = {
        "issuer": idp.issuer,
        "client_id": CLIENT_ID,
        "client_secret": SecretStr(CLIENT_SECRET),
        "redirect_uri": REDIRECT_URI,
        "jwks_min_refetch_interval_s": 0,
        **overrides,
    }
    return OIDCProvider(**fields)


@pytest.fixture
def client(idp: LocalIdP) -> Iterator[OIDCClient]:
    with OIDCClient(provider(idp)) as c:
        yield c


def login(client: OIDCClient, idp: LocalIdP) -> tuple[dict[str, str], LoginState]:
    url, state = client.begin_login()
    return idp.authorize(url), state


def sign_in(client: OIDCClient, idp: LocalIdP) -> OIDCIdentity:
    params, state = login(client, idp)
    return client.complete_login(params, state)


def refused(client: OIDCClient, idp: LocalIdP, reason: str) -> OIDCError:
    params, state = login(client, idp)
    with pytest.raises(OIDCError) as info:
        client.complete_login(params, state)
    err = info.value
    assert err.reason == reason, str(err)
    assert_no_secrets(err, params, state, idp)
    return err


def assert_no_secrets(err: OIDCError, params: dict[str, str], state: LoginState, idp: LocalIdP) -> None:
    text = f"{err} {err!r} {err.detail}"
    secrets = [CLIENT_SECRET, state.code_verifier, state.nonce, params.get("code", "\0")]
    secrets += [idp.token_requests[-1]["form"].get("code", "\0")] if idp.token_requests else []
    for s in secrets:
        assert s not in text
    assert "eyJ" not in text  # no JWT (header or payload) quoted
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


# ---- valid sign-ins ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_valid_login_yields_issuer_subject_groups(client: OIDCClient, idp: LocalIdP, alg: str) -> None:
    idp.knobs = TokenKnobs(alg=alg)
    ident = sign_in(client, idp)
    assert ident.key == (idp.issuer, "248289761001")
    assert (ident.email, ident.email_verified, ident.name) == ("ada@example.org", True, "Ada Lovelace")
    assert ident.groups == ("engineering", "/org/research")
    assert not ident.groups_overage
    assert "nonce" not in repr(ident) and "claims" not in repr(ident)


def test_authorization_request_carries_pkce_state_and_nonce(client: OIDCClient, idp: LocalIdP) -> None:
    url, state = client.begin_login(extra_params={"prompt": "login"})
    params = idp.authorize(url)
    sent = idp.authorize_requests[-1]
    assert sent["code_challenge_method"] == "S256"
    assert sent["code_challenge"] == pkce_challenge(state.code_verifier)
    assert sent["code_challenge"] == b64url(hashlib.sha256(state.code_verifier.encode()).digest())
    assert 43 <= len(state.code_verifier) <= 128
    assert sent["state"] == state.state and sent["nonce"] == state.nonce and sent["prompt"] == "login"
    assert sent["scope"].split() == ["openid", "email", "profile"]
    assert state.code_verifier not in url  # only the challenge travels through the browser
    assert "code_verifier" not in repr(state) and state.nonce not in repr(state)
    _, other = client.begin_login()
    assert len({state.state, other.state, state.nonce, other.nonce, state.code_verifier, other.code_verifier}) == 6
    assert client.complete_login(params, LoginState.from_dict(state.to_dict())).subject == "248289761001"
    with pytest.raises(ValueError, match="may not set"):
        client.begin_login(extra_params={"code_challenge_method": "plain"})


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_authentication_methods(idp: LocalIdP, method: str) -> None:
    with OIDCClient(provider(idp, token_auth_method=method)) as c:
        assert sign_in(c, idp).subject == "248289761001"
    req = idp.token_requests[-1]
    assert req["auth_method"] == method
    assert ("client_secret" in req["form"]) == (method == "client_secret_post")


def test_expiry_within_leeway_is_accepted(client: OIDCClient, idp: LocalIdP) -> None:
    idp.knobs = TokenKnobs(exp_offset=-20, iat_offset=-300)
    assert sign_in(client, idp).subject == "248289761001"


# ---- defective ID tokens -----------------------------------------------------------------------

DEFECTS: list[tuple[str, TokenKnobs, str]] = [
    ("wrong aud", TokenKnobs(aud="someone-else"), "wrong_audience"),
    ("aud list without client", TokenKnobs(aud=["a", "b"]), "wrong_audience"),
    ("several aud, no azp", TokenKnobs(aud=[CLIENT_ID, "other-app"]), "wrong_azp"),
    ("azp of another client", TokenKnobs(aud=[CLIENT_ID, "other-app"], azp="other-app"), "wrong_azp"),
    ("wrong iss", TokenKnobs(iss="https://evil.example.com"), "wrong_issuer"),
    ("iss with trailing slash", TokenKnobs(iss="__ISSUER__/"), "wrong_issuer"),
    ("expired", TokenKnobs(exp_offset=-600, iat_offset=-900), "expired"),
    ("nbf in the future", TokenKnobs(nbf_offset=600), "not_yet_valid"),
    ("iat in the future", TokenKnobs(iat_offset=600, exp_offset=900), "not_yet_valid"),
    ("alg none", TokenKnobs(alg="none"), "unsupported_alg"),
    ("HS256 keyed with the RSA public key", TokenKnobs(alg="HS256-public-key"), "unsupported_alg"),
    ("bad nonce", TokenKnobs(nonce="replayed-from-another-login"), "bad_nonce"),
    ("no nonce", TokenKnobs(drop_claims=("nonce",)), "bad_nonce"),
    ("unknown kid", TokenKnobs(rogue_key=True), "unknown_kid"),
    ("unknown key without kid", TokenKnobs(rogue_key=True, kid=""), "bad_signature"),
    ("RS256 header naming the EC key", TokenKnobs(kid="ec-1"), "key_mismatch"),
    ("tampered signature", TokenKnobs(tamper=True), "bad_signature"),
    ("tampered ES256 signature", TokenKnobs(alg="ES256", tamper=True), "bad_signature"),
    ("no sub", TokenKnobs(drop_claims=("sub",)), "missing_claim"),
    ("no exp", TokenKnobs(drop_claims=("exp",)), "missing_claim"),
    ("empty sub", TokenKnobs(claims={"sub": ""}), "invalid_claim"),
    ("at_hash of another access token", TokenKnobs(bad_at_hash=True), "bad_at_hash"),
    ("groups not strings", TokenKnobs(claims={"groups": [1, 2]}), "invalid_claim"),
]


@pytest.mark.parametrize(("knobs", "reason"), [(k, r) for _, k, r in DEFECTS], ids=[n for n, _, _ in DEFECTS])
def test_defective_id_token_is_refused(client: OIDCClient, idp: LocalIdP, knobs: TokenKnobs, reason: str) -> None:
    if knobs.iss == "__ISSUER__/":
        knobs = dataclasses.replace(knobs, iss=idp.issuer + "/")
    idp.knobs = knobs
    refused(client, idp, reason)


def test_key_confusion_token_is_refused_even_by_signature(client: OIDCClient, idp: LocalIdP) -> None:
    """Beyond the alg allow-list: the JWKS never yields an HMAC-capable key for a verifier."""
    import jwt

    idp.knobs = TokenKnobs(alg="HS256-public-key")
    params, state = login(client, idp)
    token = _token_from_idp(idp, params)
    key = client.jwks.key_for("RS256", idp.rsa.kid)
    assert not isinstance(key, bytes | str)
    with pytest.raises((jwt.PyJWTError, TypeError)):  # a key object is no HMAC secret
        jwt.decode(token, key=key, algorithms=["HS256"], audience=CLIENT_ID)


def _token_from_idp(idp: LocalIdP, params: dict[str, str]) -> str:
    grant = idp.grants[params["code"]]
    return idp.id_token(grant, "at")


# ---- the flow around the token -----------------------------------------------------------------


def test_discovery_issuer_mismatch_is_refused(idp: LocalIdP) -> None:
    idp.discovery_overrides = {"issuer": idp.issuer + "/"}
    with OIDCClient(provider(idp)) as c, pytest.raises(OIDCError) as info:
        c.begin_login()
    assert info.value.reason == "issuer_mismatch"


def test_discovery_without_pkce_s256_or_with_http_endpoints_is_refused(idp: LocalIdP) -> None:
    idp.discovery_overrides = {"code_challenge_methods_supported": ["plain"]}
    with OIDCClient(provider(idp)) as c, pytest.raises(OIDCError) as info:
        c.begin_login()
    assert info.value.reason == "discovery_invalid"
    idp.discovery_overrides = {"token_endpoint": "http://idp.example.com/token"}
    with OIDCClient(provider(idp)) as c, pytest.raises(OIDCError) as info:
        c.begin_login()
    assert info.value.reason == "discovery_invalid"


def test_unreachable_issuer(idp: LocalIdP) -> None:
    with OIDCClient(provider(idp, issuer="http://127.0.0.1:9", http_timeout_s=2)) as c, pytest.raises(OIDCError) as info:
        c.begin_login()
    assert info.value.reason == "discovery_failed"


@pytest.mark.parametrize("mangle", ["other", "missing", "prefix"])
def test_state_mismatch_is_refused(client: OIDCClient, idp: LocalIdP, mangle: str) -> None:
    params, state = login(client, idp)
    if mangle == "other":
        _, state = client.begin_login()
    elif mangle == "missing":
        del params["state"]
    else:
        params["state"] = params["state"][:-1]
    with pytest.raises(OIDCError) as info:
        client.complete_login(params, state)
    assert info.value.reason == "state_mismatch"
    assert not idp.token_requests  # the code was never redeemed


def test_mixed_up_issuer_parameter_is_refused(client: OIDCClient, idp: LocalIdP) -> None:
    params, state = login(client, idp)
    for bad in ("https://evil.example.com", None):
        p = {k: v for k, v in params.items() if k != "iss"}
        if bad:
            p["iss"] = bad
        with pytest.raises(OIDCError) as info:
            client.complete_login(p, state)
        assert info.value.reason == "wrong_issuer"


def test_idp_error_expired_login_and_missing_code(client: OIDCClient, idp: LocalIdP) -> None:
    idp.authorize_error = "access_denied"
    params, state = login(client, idp)
    with pytest.raises(OIDCError, match="access_denied") as info:
        client.complete_login(params, state)
    assert info.value.reason == "idp_error"

    idp.authorize_error = None
    params, state = login(client, idp)
    stale = dataclasses.replace(state, created_at=time.time() - 3600)
    with pytest.raises(OIDCError) as info:
        client.complete_login(params, stale)
    assert info.value.reason == "login_expired"

    del params["code"]
    with pytest.raises(OIDCError) as info:
        client.complete_login(params, state)
    assert info.value.reason == "missing_code"


def test_wrong_pkce_verifier_and_code_replay_are_refused(client: OIDCClient, idp: LocalIdP) -> None:
    params, state = login(client, idp)
    forged = dataclasses.replace(state, code_verifier="x" * 64)
    with pytest.raises(OIDCError, match="invalid_grant") as info:
        client.complete_login(params, forged)
    assert info.value.reason == "token_exchange_failed"
    assert_no_secrets(info.value, params, forged, idp)

    params, state = login(client, idp)
    assert client.complete_login(params, state).subject == "248289761001"
    with pytest.raises(OIDCError, match="invalid_grant"):
        client.complete_login(params, state)  # a code is redeemed once


def test_local_idp_requires_pkce(idp: LocalIdP) -> None:
    """The stand-in provider really enforces PKCE, so the tests above prove the client's side of it."""
    q = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "scope": "openid", "state": "s"}
    assert "error" in idp.authorize(f"{idp.issuer}/authorize?{httpx.QueryParams(q)}")
    params = idp.authorize(
        f"{idp.issuer}/authorize?{httpx.QueryParams({**q, 'code_challenge': 'c' * 43, 'code_challenge_method': 'S256'})}"
    )
    form = {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT_URI}
    resp = httpx.post(f"{idp.issuer}/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET))
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_refused_without_echoing_it(idp: LocalIdP) -> None:
    with OIDCClient(provider(idp, client_secret=SecretStr("wrong-secret-value"))) as c:
        params, state = login(c, idp)
        with pytest.raises(OIDCError) as info:
            c.complete_login(params, state)
    assert info.value.reason == "token_exchange_failed" and "invalid_client" in str(info.value)
    assert "wrong-secret-value" not in str(info.value)
    assert "wrong-secret-value" not in repr(c.provider)


# ---- keys --------------------------------------------------------------------------------------


def test_key_rotation_is_picked_up_by_refetching_jwks(client: OIDCClient, idp: LocalIdP) -> None:
    sign_in(client, idp)
    fetches = idp.jwks_fetches
    new = idp.rotate_rsa()
    assert idp.knobs.kid is None  # tokens now carry the new kid
    assert sign_in(client, idp).subject == "248289761001"
    assert idp.jwks_fetches == fetches + 1
    assert client.jwks.key_for("RS256", new.kid) is not None
    sign_in(client, idp)
    assert idp.jwks_fetches == fetches + 1  # known kid: served from the cache


def test_unknown_kid_refetch_is_rate_limited(idp: LocalIdP) -> None:
    with OIDCClient(provider(idp, jwks_min_refetch_interval_s=3600)) as c:
        sign_in(c, idp)
        assert idp.jwks_fetches == 1
        idp.knobs = TokenKnobs(rogue_key=True)
        for _ in range(3):
            refused(c, idp, "unknown_kid")
        assert idp.jwks_fetches == 1  # forged kids do not make us hammer the issuer
        idp.rotate_rsa()
        idp.knobs = TokenKnobs()
        refused(c, idp, "unknown_kid")  # a real rotation waits for the interval...
        c.jwks.invalidate()
        assert sign_in(c, idp).subject == "248289761001"  # ...or an explicit invalidate
        assert idp.jwks_fetches == 2


# ---- claims and configuration ------------------------------------------------------------------


def test_group_claim_shapes(idp: LocalIdP) -> None:
    idp.user = {**idp.user, "realm_access": {"roles": ["admin", "admin", "auditor"]}, "https://example.org/groups": "one"}
    try:
        with OIDCClient(provider(idp, group_claim="realm_access.roles")) as c:
            assert sign_in(c, idp).groups == ("admin", "auditor")
        with OIDCClient(provider(idp, group_claim="https://example.org/groups")) as c:
            assert sign_in(c, idp).groups == ("one",)
        with OIDCClient(provider(idp, group_claim="roles")) as c:
            assert sign_in(c, idp).groups == ()
        idp.knobs = TokenKnobs(drop_claims=("groups",), claims={"_claim_names": {"groups": "src1"}})
        with OIDCClient(provider(idp)) as c:
            ident = sign_in(c, idp)
        assert ident.groups == () and ident.groups_overage
    finally:
        idp.user.pop("realm_access")
        idp.user.pop("https://example.org/groups")


def test_identity_is_issuer_and_subject_not_email(client: OIDCClient, idp: LocalIdP) -> None:
    first = sign_in(client, idp)
    idp.knobs = TokenKnobs(claims={"sub": "someone-else", "email": first.email})
    second = sign_in(client, idp)
    assert first.email == second.email and first.key != second.key


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("allowed_algs", ("HS256",)),
        ("allowed_algs", ("RS256", "none")),
        ("allowed_algs", ()),
        ("scopes", ("email",)),
        ("issuer", "http://idp.example.com"),
        ("redirect_uri", "http://souverain.example.com/cb"),
        ("leeway_s", 3600),
    ],
)
def test_unsafe_configuration_is_refused(idp: LocalIdP, field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        provider(idp, **{field: value})


def test_allowed_algs_restriction_applies(idp: LocalIdP) -> None:
    with OIDCClient(provider(idp, allowed_algs=("ES256",))) as c:
        refused(c, idp, "unsupported_alg")
        idp.knobs = TokenKnobs(alg="ES256")
        assert sign_in(c, idp).subject == "248289761001"
