"""Local passwords: argon2id hashes (argon2-cffi), a length policy, and no user enumeration by timing.

- Hashes are argon2id in PHC string form with argon2-cffi's defaults (RFC 9106 low-memory profile);
  a hash made with older parameters is replaced at the next successful sign-in (``needs_rehash``).
- ``verify(None, password)`` still runs one full argon2 verification against a dummy hash made with
  the same parameters, so "no such user", "no local password" and "wrong password" take the same time.
- Policy: at least 12 characters (NIST SP 800-63B allows 8; a sovereign deployment's admins deserve
  more), at most 1024 so a huge password cannot be used to burn CPU. No composition rules.
"""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


class PasswordPolicyError(ValueError):
    pass


def check_policy(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise PasswordPolicyError("the password is blank")
    return password


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()

    @functools.cached_property
    def _dummy_hash(self) -> str:
        return self.hasher.hash(secrets.token_urlsafe(24))

    def hash(self, password: str) -> str:
        return self.hasher.hash(check_policy(password))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; with no stored hash, as slow as a mismatch and always False."""
        candidate = password[:MAX_PASSWORD_LENGTH + 1]  # over-long input costs no more than a refusal
        target = stored_hash or self._dummy_hash
        ok: bool
        try:
            ok = self.hasher.verify(target, candidate)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        return ok and stored_hash is not None and len(password) <= MAX_PASSWORD_LENGTH

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True
