"""The server secret: the key that API-key hashes and CSRF tokens are computed with (HMAC-SHA256).

- Configured: ``SOUVERAIN_SECRET_KEY``. Outside ``environment=development`` the placeholder and keys
  shorter than 32 characters are refused when ``Settings`` is validated, so a production server
  never starts with a guessable key.
- Development with the placeholder: a random 256-bit key is generated once and kept in
  ``data_dir/secret_key``, created with ``O_EXCL`` and mode 0600 (never group- or world-readable),
  so API keys stay valid across restarts of the same data directory.

Changing the key invalidates every API key (their stored HMACs no longer match); sessions do not
depend on it (their ids are random and stored as SHA-256).
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from ..settings import SECRET_KEY_PLACEHOLDER, Settings

KEY_FILE = "secret_key"


def load_secret_key(settings: Settings) -> bytes:
    configured = settings.secret_key.get_secret_value()
    if configured != SECRET_KEY_PLACEHOLDER:
        return configured.encode("utf-8")
    if settings.environment != "development":  # Settings validation refuses this already; never fall through
        raise RuntimeError("SOUVERAIN_SECRET_KEY is not set")
    return _development_key(settings.data_dir / KEY_FILE)


def _development_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may have created it a moment ago and still be writing
            key = path.read_text("ascii").strip()
            if len(key) >= 32:
                return key.encode("ascii")
            time.sleep(0.02)
        raise RuntimeError(f"{path} holds no usable key; delete it to generate a new one") from None
    key = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key.encode("ascii")
