"""OpenID Connect sign-in: authorization code flow with PKCE, ``state`` and ``nonce``.

This module does the protocol and nothing else; the web layer stores the :class:`LoginState` server-side
(keyed by the browser's pre-login session), redirects to the authorization URL, and on the callback hands
the query parameters and the stored state to :meth:`OIDCClient.complete_login`. What it gets back is an
:class:`OIDCIdentity` whose key is ``(issuer, subject)``: the e-mail is a display attribute only, never a
key, because issuers let users change it and different issuers can assert the same address.

Checks, in order, each failing with :class:`OIDCError` and a stable ``reason`` code:

1. discovery: ``{issuer}/.well-known/openid-configuration``; the document's ``issuer`` must equal the
   configured issuer character for character (``issuer_mismatch``); endpoints must be HTTPS (loopback
   HTTP is allowed for development and tests); PKCE S256 must not be ruled out (``discovery_invalid``).
2. callback: ``state`` compared in constant time (``state_mismatch``), an RFC 9207 ``iss`` parameter, when
   present or promised, equal to the issuer (``wrong_issuer``), the login not older than
   ``login_timeout_s`` (``login_expired``), the IdP's ``error`` (``idp_error``), a ``code`` (``missing_code``).
3. code exchange with the PKCE verifier and the client secret (``client_secret_basic`` or
   ``client_secret_post``), redirects not followed, body size capped (``token_exchange_failed``).
4. ID token: ``alg`` in the allowed list, which only ever holds RS256/ES256 (``unsupported_alg``; ``none``
   and every ``HS*`` are refused before any key is looked at); the key from the issuer's JWKS by ``kid``
   (``unknown_kid``, ``key_mismatch``; see :mod:`souverain.governance.jwks`: never an HMAC secret); the
   signature (``bad_signature``); ``iss`` exactly (``wrong_issuer``); ``aud`` contains the client id
   (``wrong_audience``) and ``azp`` is the client id when there are several audiences or ``azp`` is present
   (``wrong_azp``); ``exp``/``nbf``/``iat`` with ``leeway_s`` (``expired``, ``not_yet_valid``); ``nonce``
   equal to the stored one, in constant time (``bad_nonce``); ``at_hash`` when present (``bad_at_hash``).
5. claims: ``sub`` a non-empty string of at most 255 characters (``missing_claim`` / ``invalid_claim``);
   the group claim (a name, or a dotted path such as Keycloak's ``realm_access.roles``) a string or a list
   of strings (``invalid_claim``). Entra ID's "groups overage" is reported, not guessed.

Error messages carry the reason and a short, sanitised explanation; they never contain the code, the
verifier, the client secret or any token, and exceptions are raised ``from None`` so a traceback does not
drag the library error (which may quote input) along.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from .jwks import SUPPORTED_ALGS, JWKSCache, JWKSError

Reason = Literal[
    "config",
    "discovery_failed",
    "discovery_invalid",
    "issuer_mismatch",
    "jwks_unavailable",
    "jwks_invalid",
    "state_mismatch",
    "login_expired",
    "idp_error",
    "missing_code",
    "token_exchange_failed",
    "malformed_token",
    "unsupported_alg",
    "unknown_kid",
    "key_mismatch",
    "bad_signature",
    "wrong_issuer",
    "wrong_audience",
    "wrong_azp",
    "expired",
    "not_yet_valid",
    "bad_nonce",
    "bad_at_hash",
    "missing_claim",
    "invalid_claim",
]

MAX_RESPONSE_BYTES = 1 << 20
_SAFE = re.compile(r"[^A-Za-z0-9 ._:/@+=,~-]")


class OIDCError(Exception):
    """A refused sign-in. ``reason`` is a stable code for logs, audit events and tests."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


def _safe(value: object, limit: int = 80) -> str:
    """A printable, bounded rendering of an untrusted value for an error message."""
    text = _SAFE.sub("?", str(value))
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.fragment or not parts.hostname:
        raise ValueError(f"{what} must be an absolute URL without a fragment")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname)):
        return url
    raise ValueError(f"{what} must use https (plain http only on loopback)")


class OIDCProvider(BaseModel):
    """One OpenID Provider as configured by the administrator (no secrets in reprs: ``SecretStr``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="oidc", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="label used in routes and logs")
    issuer: str = Field(description="exactly as the provider's discovery document spells it")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    redirect_uri: str = Field(description="the callback URL registered at the provider")
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    group_claim: str = Field(default="groups", min_length=1, description="claim name or dotted path")
    allowed_algs: tuple[str, ...] = ("RS256", "ES256")
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    leeway_s: int = Field(default=60, ge=0, le=300)
    login_timeout_s: int = Field(default=600, ge=30, le=3600)
    http_timeout_s: float = Field(default=10.0, gt=0, le=60)
    jwks_min_refetch_interval_s: float = Field(default=60.0, ge=0)
    cache_max_age_s: float = Field(default=3600.0, gt=0, description="discovery and JWKS are refreshed after this")

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, v: str) -> str:
        _check_url(v, "issuer")
        if urlsplit(v).query:
            raise ValueError("issuer must not have a query")
        return v

    @field_validator("redirect_uri")
    @classmethod
    def _redirect(cls, v: str) -> str:
        return _check_url(v, "redirect_uri")

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in v:
            raise ValueError("scopes must include 'openid'")
        if any(not s or any(c.isspace() for c in s) for s in v):
            raise ValueError("a scope is empty or contains whitespace")
        return v

    @field_validator("allowed_algs")
    @classmethod
    def _algs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or any(a not in SUPPORTED_ALGS for a in v):
            raise ValueError(f"allowed_algs must be a non-empty subset of {tuple(SUPPORTED_ALGS)}")
        return v


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    iss_parameter_supported: bool = False


@dataclass(frozen=True)
class LoginState:
    """What the caller keeps server-side between :meth:`~OIDCClient.begin_login` and the callback.

    It holds the PKCE verifier and the nonce, so it must never go to the browser (not even signed).
    """

    state: str
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    redirect_uri: str
    issuer: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoginState:
        return cls(
            state=str(data["state"]),
            nonce=str(data["nonce"]),
            code_verifier=str(data["code_verifier"]),
            redirect_uri=str(data["redirect_uri"]),
            issuer=str(data["issuer"]),
            created_at=float(data["created_at"]),
        )


@dataclass(frozen=True)
class OIDCIdentity:
    """A verified sign-in. ``key`` = (issuer, subject) is the identity; e-mail and name are attributes."""

    issuer: str
    subject: str
    email: str | None
    name: str | None
    groups: tuple[str, ...]
    email_verified: bool = False
    #: Entra ID put a pointer to Graph instead of the groups (too many): ``groups`` is then incomplete
    groups_overage: bool = False
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.issuer, self.subject)


def pkce_challenge(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _same(a: object, b: str) -> bool:
    return isinstance(a, str) and hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


_RESERVED_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method"}
)


class OIDCClient:
    """The relying party for one :class:`OIDCProvider`. Thread-safe; one instance per provider."""

    def __init__(self, provider: OIDCProvider, *, http: httpx.Client | None = None) -> None:
        self.provider = provider
        self._own_http = http is None
        self._http = http or httpx.Client(timeout=provider.http_timeout_s, follow_redirects=False)
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self.jwks = JWKSCache(
            self._fetch_jwks,
            min_refetch_interval_s=provider.jwks_min_refetch_interval_s,
            max_age_s=provider.cache_max_age_s,
        )

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> OIDCClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- discovery -------------------------------------------------------------------------------

    def metadata(self, *, refresh: bool = False) -> ProviderMetadata:
        now = time.monotonic()
        if refresh or self._metadata is None or now - self._metadata_at >= self.provider.cache_max_age_s:
            self._metadata = self._discover()
            self._metadata_at = now
        return self._metadata

    def _discover(self) -> ProviderMetadata:
        issuer = self.provider.issuer
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = self._get_json(url, "discovery_failed", "discovery document")
        if doc.get("issuer") != issuer:
            raise OIDCError(
                "issuer_mismatch",
                f"the discovery document names issuer {_safe(doc.get('issuer'))}, configured {_safe(issuer)}",
            )

        def endpoint(key: str, required: bool = True) -> str | None:
            value = doc.get(key)
            if value is None and not required:
                return None
            if not isinstance(value, str):
                raise OIDCError("discovery_invalid", f"{key} is missing from the discovery document")
            try:
                return _check_url(value, key)
            except ValueError as exc:
                raise OIDCError("discovery_invalid", str(exc)) from None

        methods = doc.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise OIDCError("discovery_invalid", "the provider does not support PKCE S256")
        algs = doc.get("id_token_signing_alg_values_supported")
        if isinstance(algs, list) and not set(algs) & set(self.provider.allowed_algs):
            raise OIDCError("discovery_invalid", f"the provider signs ID tokens with none of {self.provider.allowed_algs}")
        return ProviderMetadata(
            issuer=issuer,
            authorization_endpoint=endpoint("authorization_endpoint") or "",
            token_endpoint=endpoint("token_endpoint") or "",
            jwks_uri=endpoint("jwks_uri") or "",
            userinfo_endpoint=endpoint("userinfo_endpoint", required=False),
            end_session_endpoint=endpoint("end_session_endpoint", required=False),
            iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
        )

    def _fetch_jwks(self) -> Any:
        uri = self.metadata().jwks_uri
        try:
            return self._get_json(uri, "jwks_unavailable", "key set")
        except OIDCError as exc:
            raise JWKSError("jwks_unavailable", exc.detail) from None

    def _get_json(self, url: str, reason: Reason, what: str) -> dict[str, Any]:
        try:
            with self._http.stream("GET", url, headers={"Accept": "application/json"}) as resp:
                body = _read_capped(resp)
                status = resp.status_code
        except httpx.HTTPError as exc:
            raise OIDCError(reason, f"fetching the {what} failed ({type(exc).__name__})") from None
        if status != 200:
            raise OIDCError(reason, f"fetching the {what} answered HTTP {status}")
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise OIDCError(reason, f"the {what} is not a JSON object")
        return doc

    # ---- the flow --------------------------------------------------------------------------------

    def begin_login(self, *, extra_params: Mapping[str, str] | None = None) -> tuple[str, LoginState]:
        """The URL to send the browser to, and the state to keep server-side until the callback.

        ``extra_params`` may add ``prompt``, ``login_hint``, ``domain_hint``… but not replace the
        parameters that carry the security of the flow.
        """
        extra = dict(extra_params or {})
        if clash := _RESERVED_PARAMS & extra.keys():
            raise ValueError(f"extra_params may not set {sorted(clash)}")
        meta = self.metadata()
        login = LoginState(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),  # 86 characters of [A-Za-z0-9_-]: RFC 7636 allows 43-128
            redirect_uri=self.provider.redirect_uri,
            issuer=self.provider.issuer,
            created_at=time.time(),
        )
        params = {
            "response_type": "code",
            "client_id": self.provider.client_id,
            "redirect_uri": login.redirect_uri,
            "scope": " ".join(self.provider.scopes),
            "state": login.state,
            "nonce": login.nonce,
            "code_challenge": pkce_challenge(login.code_verifier),
            "code_challenge_method": "S256",
            **extra,
        }
        parts = urlsplit(meta.authorization_endpoint)
        query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
        return urlunsplit(parts._replace(query=query)), login

    def complete_login(self, query_params: Mapping[str, str], state: LoginState) -> OIDCIdentity:
        """Verify the callback, redeem the code and validate the ID token; the signed-in identity or ``OIDCError``."""
        if state.issuer != self.provider.issuer or not _same(query_params.get("state"), state.state):
            raise OIDCError("state_mismatch", "the callback's state does not belong to this sign-in")
        meta = self.metadata()
        iss = query_params.get("iss")
        if (iss is not None or meta.iss_parameter_supported) and iss != self.provider.issuer:
            raise OIDCError("wrong_issuer", "the authorization response comes from another issuer")
        if time.time() - state.created_at > self.provider.login_timeout_s:
            raise OIDCError("login_expired", f"the sign-in took longer than {self.provider.login_timeout_s} s")
        if "error" in query_params:
            raise OIDCError("idp_error", f"the provider refused the sign-in: {_safe(query_params.get('error'), 64)}")
        code = query_params.get("code")
        if not code:
            raise OIDCError("missing_code", "the callback carries no authorization code")

        tokens = self._redeem(meta, code, state)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OIDCError("token_exchange_failed", "the token response has no id_token")
        claims = self.validate_id_token(id_token, nonce=state.nonce)
        access_token = tokens.get("access_token")
        if "at_hash" in claims and isinstance(access_token, str):
            expected = _b64url(hashlib.sha256(access_token.encode("ascii", "replace")).digest()[:16])
            if not _same(claims["at_hash"], expected):
                raise OIDCError("bad_at_hash", "the ID token's at_hash does not match the access token")
        return self.identity_from_claims(claims)

    def _redeem(self, meta: ProviderMetadata, code: str, state: LoginState) -> dict[str, Any]:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": state.redirect_uri,
            "code_verifier": state.code_verifier,
        }
        headers = {"Accept": "application/json"}
        secret = self.provider.client_secret.get_secret_value()
        if self.provider.token_auth_method == "client_secret_post":
            data |= {"client_id": self.provider.client_id, "client_secret": secret}
        else:  # RFC 6749 §2.3.1: both parts form-encoded before base64
            pair = f"{quote_plus(self.provider.client_id)}:{quote_plus(secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        try:
            with self._http.stream("POST", meta.token_endpoint, data=data, headers=headers) as resp:
                body = _read_capped(resp)
                status = resp.status_code
        except httpx.HTTPError as exc:
            raise OIDCError("token_exchange_failed", f"the token endpoint failed ({type(exc).__name__})") from None
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if status != 200:
            error = doc.get("error") if isinstance(doc, dict) else None
            raise OIDCError("token_exchange_failed", f"the token endpoint answered HTTP {status} ({_safe(error, 64)})")
        if not isinstance(doc, dict):
            raise OIDCError("token_exchange_failed", "the token response is not a JSON object")
        return doc

    # ---- ID token --------------------------------------------------------------------------------

    def validate_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The verified claims of an ID token issued to this client for this ``nonce``."""
        provider = self.provider
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OIDCError("malformed_token", "the ID token is not a well-formed JWS") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in provider.allowed_algs:
            raise OIDCError("unsupported_alg", f"ID token alg {_safe(alg, 16)} is not one of {provider.allowed_algs}")
        if "crit" in header:
            raise OIDCError("malformed_token", "the ID token has critical header parameters this client does not know")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise OIDCError("malformed_token", "the ID token's kid is not a string")
        try:
            key = self.jwks.key_for(alg, kid)
        except JWKSError as exc:
            raise OIDCError(exc.reason, exc.detail) from None
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=[alg],  # exactly the one checked above, with an RSA/EC public-key object
                audience=provider.client_id,
                issuer=provider.issuer,
                leeway=provider.leeway_s,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.InvalidSignatureError:
            raise OIDCError("bad_signature", "the ID token's signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise OIDCError("expired", "the ID token has expired") from None
        except jwt.ImmatureSignatureError:
            raise OIDCError("not_yet_valid", "the ID token is not valid yet (nbf or iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise OIDCError("wrong_audience", "the ID token is not issued to this client") from None
        except jwt.InvalidIssuerError:
            raise OIDCError("wrong_issuer", f"the ID token's issuer is not {_safe(provider.issuer)}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise OIDCError("missing_claim", f"the ID token lacks the {_safe(exc.claim, 16)} claim") from None
        except jwt.PyJWTError as exc:
            raise OIDCError("malformed_token", f"the ID token is invalid ({type(exc).__name__})") from None

        # PyJWT compares iss and aud already; these repeat the checks that must never loosen.
        if claims.get("iss") != provider.issuer:
            raise OIDCError("wrong_issuer", f"the ID token's issuer is not {_safe(provider.issuer)}")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if provider.client_id not in audiences:
            raise OIDCError("wrong_audience", "the ID token is not issued to this client")
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != provider.client_id:
            raise OIDCError("wrong_azp", "the ID token's authorized party is not this client")
        if not _same(claims.get("nonce"), nonce):
            raise OIDCError("bad_nonce", "the ID token's nonce does not match this sign-in")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise OIDCError("invalid_claim", "the ID token's sub is not a string of 1-255 characters")
        return claims

    def identity_from_claims(self, claims: Mapping[str, Any]) -> OIDCIdentity:
        email = claims.get("email")
        name = claims.get("name") or claims.get("preferred_username")
        claim_names = claims.get("_claim_names")
        overage = isinstance(claim_names, Mapping) and "groups" in claim_names
        return OIDCIdentity(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            email=email if isinstance(email, str) and email else None,
            email_verified=claims.get("email_verified") is True,
            name=name if isinstance(name, str) and name else None,
            groups=self._groups(claims),
            groups_overage=overage,
            claims=dict(claims),
        )

    def _groups(self, claims: Mapping[str, Any]) -> tuple[str, ...]:
        path = self.provider.group_claim
        value: Any
        if path in claims:  # a name with dots, such as an Auth0-style URL claim, wins over the dotted path
            value = claims[path]
        else:
            value = claims
            for part in path.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
            raise OIDCError("invalid_claim", f"the group claim {_safe(path, 64)} is not a string or a list of strings")
        return tuple(dict.fromkeys(g for g in value if g))


def _read_capped(resp: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise httpx.DecodingError("response larger than the cap")
        chunks.append(chunk)
    return b"".join(chunks)
