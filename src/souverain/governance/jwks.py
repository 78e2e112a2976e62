"""JSON Web Key Sets for ID-token verification: fetch, cache, and pick exactly one key.

Invariants (each one closes a known hole in JWT verification):

- Only asymmetric signing keys ever come out of here: RSA of at least 2048 bits for ``RS256``, EC on
  P-256 for ``ES256``. ``kty: oct`` entries, keys that publish private parameters, keys whose ``use`` is
  not ``sig`` and unknown curves are dropped when the set is parsed, so a public key can never be handed
  to an HMAC verifier (the ``HS256``-signed-with-the-public-key confusion attack) and the caller always
  gets a ``cryptography`` public-key object, never bytes.
- The key is chosen by the token's ``kid`` and must fit the token's ``alg`` (key type, curve, and the
  JWK's own ``alg`` when it declares one). A token without a ``kid`` is accepted only when exactly one key
  of the set fits; several candidates are refused rather than tried one after another.
- An unknown ``kid`` means the issuer may have rotated its keys: the set is fetched again, but at most
  once per ``min_refetch_interval_s``, so tokens with made-up kids cannot make us hammer the issuer.
  The whole set is also refreshed after ``max_age_s`` so retired keys stop being trusted. A failed
  refresh fails closed (no stale keys).
- One lock guards the cache: FastAPI runs sync routes in a thread pool.

Failures raise :class:`JWKSError` with a short reason code; :mod:`souverain.governance.oidc` turns it
into an ``OIDCError`` with the same code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWKSReason = Literal["jwks_unavailable", "jwks_invalid", "unknown_kid", "key_mismatch"]

#: the algorithms this module can serve keys for, and the key family each needs
SUPPORTED_ALGS: Mapping[str, str] = {"RS256": "RSA", "ES256": "EC"}
MIN_RSA_BITS = 2048


class JWKSError(Exception):
    def __init__(self, reason: JWKSReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: JWKSReason = reason
        self.detail = detail


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class SigningKey:
    kid: str | None
    kty: Literal["RSA", "EC"]
    alg: str | None  # the JWK's own "alg", when it declares one
    key: PublicKey

    def fits(self, alg: str) -> bool:
        family = SUPPORTED_ALGS.get(alg)
        if family is None or family != self.kty:
            return False
        return self.alg is None or self.alg == alg


def parse_jwks(doc: object) -> list[SigningKey]:
    """The usable signing keys of a JWKS document; entries that could be misused are dropped."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("keys"), list):
        raise JWKSError("jwks_invalid", "the key set is not a JSON object with a 'keys' list")
    keys: list[SigningKey] = []
    for entry in doc["keys"]:
        key = _parse_key(entry)
        if key is not None:
            keys.append(key)
    return keys


def _parse_key(entry: object) -> SigningKey | None:
    if not isinstance(entry, Mapping):
        return None
    kty, use, alg, kid = entry.get("kty"), entry.get("use"), entry.get("alg"), entry.get("kid")
    if kid is not None and not isinstance(kid, str):
        return None
    if use is not None and use != "sig":
        return None
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    if alg is not None and alg not in SUPPORTED_ALGS:
        return None
    if "d" in entry:  # private material published in a JWKS is a misconfiguration; never use it
        return None
    try:
        if kty == "RSA":
            rsa_key = RSAAlgorithm.from_jwk(dict(entry))
            if not isinstance(rsa_key, rsa.RSAPublicKey) or rsa_key.key_size < MIN_RSA_BITS:
                return None
            return SigningKey(kid=kid, kty="RSA", alg=alg, key=rsa_key)
        if kty == "EC":
            ec_key = ECAlgorithm.from_jwk(dict(entry))
            if not isinstance(ec_key, ec.EllipticCurvePublicKey) or not isinstance(ec_key.curve, ec.SECP256R1):
                return None
            return SigningKey(kid=kid, kty="EC", alg=alg, key=ec_key)
    except Exception:  # malformed numbers, unknown curve: the entry is unusable, the rest of the set is not
        return None
    return None


class JWKSCache:
    """Keys of one issuer, fetched by ``fetch`` (returns the parsed JSON document; raises on failure)."""

    def __init__(
        self,
        fetch: Callable[[], Any],
        *,
        min_refetch_interval_s: float = 60.0,
        max_age_s: float = 3600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._min_refetch = min_refetch_interval_s
        self._max_age = max_age_s
        self._now = monotonic
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at = float("-inf")  # last attempt, successful or not (rate limit)
        self._failed = False
        self.fetch_count = 0

    def key_for(self, alg: str, kid: str | None) -> PublicKey:
        """The one public key that verifies a token with this header, or :class:`JWKSError`."""
        if alg not in SUPPORTED_ALGS:
            raise JWKSError("key_mismatch", f"no key type serves alg {alg!r}")
        with self._lock:
            now = self._now()
            if self._fetched_at is None or now - self._fetched_at >= self._max_age:
                self._refresh(now)
            key = self._select(alg, kid)
            if key is None and now - self._attempted_at >= self._min_refetch:
                self._refresh(now)
                key = self._select(alg, kid)
            if key is None:
                what = (
                    "the token has no kid and no key fits its alg" if kid is None else "no key in the issuer's set has this kid"
                )
                raise JWKSError("unknown_kid", what)
            return key.key

    def invalidate(self) -> None:
        """Forget the keys; the next lookup fetches them again."""
        with self._lock:
            self._keys, self._fetched_at, self._failed = [], None, False
            self._attempted_at = float("-inf")

    def _refresh(self, now: float) -> None:
        if self._failed and now - self._attempted_at < self._min_refetch:
            raise JWKSError("jwks_unavailable", "the last key set fetch failed; not retrying yet")
        self._attempted_at = now
        self.fetch_count += 1
        try:
            keys = parse_jwks(self._fetch())
        except Exception:
            self._keys, self._fetched_at, self._failed = [], None, True  # fail closed: no stale keys
            raise
        self._keys, self._fetched_at, self._failed = keys, now, False

    def _select(self, alg: str, kid: str | None) -> SigningKey | None:
        if kid is None:
            fitting = [k for k in self._keys if k.fits(alg)]
            if len(fitting) > 1:
                raise JWKSError("unknown_kid", "the token has no kid and several keys fit its alg")
            return fitting[0] if fitting else None
        named = [k for k in self._keys if k.kid == kid]
        if not named:
            return None
        fitting = [k for k in named if k.fits(alg)]
        if len(fitting) != 1:
            why = "the key with this kid does not fit the token's alg" if not fitting else "several keys share this kid"
            raise JWKSError("key_mismatch", why)
        return fitting[0]
