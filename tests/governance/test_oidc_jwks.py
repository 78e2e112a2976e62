"""The JWKS cache: keys that could be misused never come out, refetches are rate limited, failures fail closed."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from souverain.governance.jwks import JWKSCache, JWKSError, parse_jwks

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def rsa_jwk(kid: str, **extra: Any) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True), "kid": kid, **extra}


def ec_jwk(kid: str, key: ec.EllipticCurvePrivateKey = EC_KEY, **extra: Any) -> dict[str, Any]:
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, **extra}


def test_only_safe_signing_keys_survive_parsing() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    doc = {
        "keys": [
            {"kty": "oct", "kid": "hmac", "k": base64.urlsafe_b64encode(b"secret").decode()},
            {**RSAAlgorithm.to_jwk(RSA_KEY, as_dict=True), "kid": "private"},
            {**RSAAlgorithm.to_jwk(small.public_key(), as_dict=True), "kid": "small"},
            ec_jwk("p384", ec.generate_private_key(ec.SECP384R1())),
            rsa_jwk("enc", use="enc"),
            rsa_jwk("hs", alg="HS256"),
            rsa_jwk("ops", key_ops=["encrypt"]),
            {"kty": "RSA", "kid": "garbage", "n": "!!", "e": "AQAB"},
            "not a key",
            rsa_jwk("good", use="sig", alg="RS256"),
            ec_jwk("good-ec"),
        ]
    }
    assert [(k.kid, k.kty) for k in parse_jwks(doc)] == [("good", "RSA"), ("good-ec", "EC")]
    bads: tuple[object, ...] = ({}, {"keys": "x"}, [], None)
    for bad in bads:
        with pytest.raises(JWKSError) as info:
            parse_jwks(bad)
        assert info.value.reason == "jwks_invalid"


def test_key_selection_by_kid_and_alg() -> None:
    cache = JWKSCache(lambda: {"keys": [rsa_jwk("r"), ec_jwk("e"), rsa_jwk("pinned", alg="RS256")]})
    assert isinstance(cache.key_for("RS256", "r"), rsa.RSAPublicKey)
    assert isinstance(cache.key_for("ES256", "e"), ec.EllipticCurvePublicKey)
    for alg, kid, reason in [("ES256", "r", "key_mismatch"), ("RS256", "e", "key_mismatch"), ("HS256", "r", "key_mismatch")]:
        with pytest.raises(JWKSError) as info:
            cache.key_for(alg, kid)
        assert info.value.reason == reason
    with pytest.raises(JWKSError, match="several keys") as info:
        cache.key_for("RS256", None)  # no kid and two RSA keys: ambiguous, not tried in turn
    assert isinstance(cache.key_for("ES256", None), ec.EllipticCurvePublicKey)  # exactly one EC key


def test_refetch_rate_limit_max_age_and_fail_closed() -> None:
    now = [1000.0]
    docs: list[Any] = [{"keys": [rsa_jwk("a")]}]
    calls: list[int] = []

    def fetch() -> Any:
        calls.append(1)
        doc = docs[-1]
        if isinstance(doc, Exception):
            raise doc
        return doc

    cache = JWKSCache(fetch, min_refetch_interval_s=60, max_age_s=3600, monotonic=lambda: now[0])
    cache.key_for("RS256", "a")
    docs.append({"keys": [rsa_jwk("b")]})
    with pytest.raises(JWKSError, match="kid"):
        cache.key_for("RS256", "b")  # fetched < 60 s ago: no refetch
    assert len(calls) == 1
    now[0] += 61
    cache.key_for("RS256", "b")
    assert len(calls) == 2
    with pytest.raises(JWKSError):
        cache.key_for("RS256", "a")  # the old key left the set: no longer trusted
    docs.append(JWKSError("jwks_unavailable", "down"))
    now[0] += 3600  # stale: refresh, which fails, and the old keys are dropped
    for _ in range(3):
        with pytest.raises(JWKSError) as info:
            cache.key_for("RS256", "b")
        assert info.value.reason == "jwks_unavailable"
    assert len(calls) == 3  # the failing endpoint was tried once, not once per token
    docs.append({"keys": [rsa_jwk("b")]})
    now[0] += 61
    cache.key_for("RS256", "b")
