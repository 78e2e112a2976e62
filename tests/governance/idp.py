"""A real, small OpenID Provider on loopback for the OIDC tests.

It speaks plain HTTP on 127.0.0.1 (stdlib ``ThreadingHTTPServer``) and follows the documented protocol:
discovery, JWKS (RSA and EC keys generated at start), ``/authorize`` that signs the test user in at once
and redirects back with a code (recording the PKCE challenge), and ``/token`` that authenticates the client
(basic or post), redeems a code once, checks the redirect URI and the PKCE verifier, and returns an ID
token. :class:`TokenKnobs` makes the next ID tokens defective in the ways attackers and broken providers do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

CLIENT_ID = "souverain-test"
CLIENT_SECRET = "s3cret-never-in-messages"
REDIRECT_URI = "http://127.0.0.1:8765/auth/oidc/callback"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass
class TokenKnobs:
    """How the next ID tokens are made; the defaults make a valid token."""

    alg: str = "RS256"  # RS256 | ES256 | none | HS256-public-key
    aud: Any = None  # None: the client id
    azp: str | None = None
    iss: str | None = None  # None: the issuer
    nonce: str | None = None  # None: echo the nonce of the authorization request
    drop_claims: tuple[str, ...] = ()
    exp_offset: int = 300
    iat_offset: int = 0
    nbf_offset: int | None = None
    kid: str | None = None  # None: the active key's kid; "" leaves kid out of the header
    rogue_key: bool = False  # sign with a key the JWKS does not publish (kid "rogue-1")
    tamper: bool = False  # flip a bit of the signature
    bad_at_hash: bool = False
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass
class Key:
    kid: str
    alg: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        algo = RSAAlgorithm if self.alg == "RS256" else ECAlgorithm
        jwk = algo.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    used: bool = False


def new_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class LocalIdP:
    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.idp = self  # type: ignore[attr-defined]
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.rsa = Key("rsa-1", "RS256", new_rsa())
        self.ec = Key("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1()))
        self.rogue = Key("rogue-1", "RS256", new_rsa())
        self.published: list[Key] = [self.rsa, self.ec]
        self.user: dict[str, Any] = {
            "sub": "248289761001",
            "email": "ada@example.org",
            "email_verified": True,
            "name": "Ada Lovelace",
            "groups": ["engineering", "/org/research"],
        }
        self.reset()
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-idp", daemon=True)
        self._thread.start()

    def reset(self) -> None:
        self.knobs = TokenKnobs()
        self.discovery_overrides: dict[str, Any] = {}
        self.authorize_error: str | None = None
        self.grants: dict[str, Grant] = {}
        self.jwks_fetches = 0
        self.token_requests: list[dict[str, Any]] = []
        self.authorize_requests: list[dict[str, str]] = []

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- keys --------------------------------------------------------------------------------

    def rotate_rsa(self, *, keep_old: bool = False) -> Key:
        """A new RSA signing key with a new kid; the old one leaves the JWKS unless ``keep_old``."""
        old = self.rsa
        self.rsa = Key(f"rsa-{secrets.token_hex(4)}", "RS256", new_rsa())
        self.published = [self.rsa, self.ec, *([old] if keep_old else [])]
        return self.rsa

    def discovery(self) -> dict[str, Any]:
        doc = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "authorization_response_iss_parameter_supported": True,
        }
        return {**doc, **self.discovery_overrides}

    # ---- tokens ------------------------------------------------------------------------------

    def id_token(self, grant: Grant, access_token: str) -> str:
        k = self.knobs
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer if k.iss is None else k.iss,
            "aud": grant.client_id if k.aud is None else k.aud,
            "iat": now + k.iat_offset,
            "exp": now + k.exp_offset,
            "auth_time": now,
            "nonce": grant.nonce if k.nonce is None else k.nonce,
            "at_hash": b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
            **self.user,
        }
        if k.azp is not None:
            claims["azp"] = k.azp
        if k.nbf_offset is not None:
            claims["nbf"] = now + k.nbf_offset
        if k.bad_at_hash:
            claims["at_hash"] = b64url(b"\0" * 16)
        claims.update(k.claims)
        for name in k.drop_claims:
            claims.pop(name, None)

        key = self.ec if k.alg == "ES256" else self.rogue if k.rogue_key else self.rsa
        kid = key.kid if k.kid is None else k.kid
        headers = {"kid": kid} if kid else {}
        if k.alg == "none":
            token = self._unsigned({"alg": "none", "typ": "JWT", **headers}, claims) + "."
        elif k.alg == "HS256-public-key":
            # The key-confusion attack: HMAC keyed with the RSA public key a verifier might pass along.
            pem = self.rsa.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            signing_input = self._unsigned({"alg": "HS256", "typ": "JWT", **headers}, claims)
            token = signing_input + "." + b64url(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())
        else:
            token = jwt.encode(claims, key.private, algorithm=k.alg, headers=headers or None)
        if k.tamper:
            head, body, sig = token.split(".")
            raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
            raw[len(raw) // 2] ^= 0x01
            token = f"{head}.{body}.{b64url(bytes(raw))}"
        return token

    @staticmethod
    def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
        enc = lambda d: b64url(json.dumps(d, separators=(",", ":")).encode())  # noqa: E731
        return f"{enc(header)}.{enc(claims)}"

    # ---- test driver -------------------------------------------------------------------------

    def authorize(self, url: str) -> dict[str, str]:
        """Follow the authorization URL like a browser would and return the callback's query parameters."""
        resp = httpx.get(url, follow_redirects=False, timeout=5)
        assert resp.status_code == 302, (resp.status_code, resp.text)
        location = resp.headers["location"]
        assert location.startswith(REDIRECT_URI.split("?")[0]), location
        return dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))


class _Handler(BaseHTTPRequestHandler):
    server_version = "LocalIdP/1"

    @property
    def idp(self) -> LocalIdP:
        return self.server.idp  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _json(self, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        if parts.path == "/.well-known/openid-configuration":
            self._json(200, self.idp.discovery())
        elif parts.path == "/jwks":
            self.idp.jwks_fetches += 1
            self._json(200, {"keys": [k.public_jwk() for k in self.idp.published]})
        elif parts.path == "/authorize":
            self._authorize(dict(parse_qsl(parts.query, keep_blank_values=True)))
        else:
            self._json(404, {"error": "not_found"})

    def _authorize(self, q: dict[str, str]) -> None:
        idp = self.idp
        idp.authorize_requests.append(q)
        if q.get("client_id") != CLIENT_ID or q.get("redirect_uri") != REDIRECT_URI:
            self._json(400, {"error": "invalid_request", "error_description": "unknown client or redirect_uri"})
            return
        back: dict[str, str] = {"state": q.get("state", ""), "iss": idp.issuer}
        if idp.authorize_error:
            back["error"] = idp.authorize_error
        elif q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
            back["error"] = "invalid_request"
        elif q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            back["error"] = "invalid_request"  # this provider requires PKCE S256, as OAuth 2.1 does
        else:
            code = secrets.token_urlsafe(24)
            idp.grants[code] = Grant(CLIENT_ID, REDIRECT_URI, q.get("nonce"), q["code_challenge"], q["code_challenge_method"])
            back["code"] = code
        self.send_response(302)
        self.send_header("Location", f"{REDIRECT_URI}?{urlencode(back)}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        if urlsplit(self.path).path != "/token":
            self._json(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        idp = self.idp
        client_id, secret, method = self._client_auth(form)
        idp.token_requests.append({"auth_method": method, "form": form})
        if client_id != CLIENT_ID or not hmac.compare_digest((secret or "").encode(), CLIENT_SECRET.encode()):
            self._json(401, {"error": "invalid_client"})
            return
        if form.get("grant_type") != "authorization_code":
            self._json(400, {"error": "unsupported_grant_type"})
            return
        grant = idp.grants.get(form.get("code", ""))
        if grant is None or grant.used or grant.client_id != client_id or grant.redirect_uri != form.get("redirect_uri"):
            self._json(400, {"error": "invalid_grant"})
            return
        grant.used = True  # single use, even when the verifier below is wrong
        verifier = form.get("code_verifier", "")
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        if not (43 <= len(verifier) <= 128) or not hmac.compare_digest(challenge, grant.code_challenge or ""):
            self._json(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
            return
        access_token = secrets.token_urlsafe(32)
        self._json(
            200,
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": idp.id_token(grant, access_token),
            },
        )

    def _client_auth(self, form: dict[str, str]) -> tuple[str | None, str | None, str]:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return unquote_plus(user), unquote_plus(password), "client_secret_basic"
        return form.get("client_id"), form.get("client_secret"), "client_secret_post"
