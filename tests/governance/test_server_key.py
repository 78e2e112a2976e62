"""The server secret: refused at its placeholder outside development, generated and kept 0600 in development."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from souverain.governance.server_key import load_secret_key
from souverain.settings import Settings


def test_placeholder_refused_outside_development(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SOUVERAIN_SECRET_KEY"):
        Settings(data_dir=tmp_path, environment="production")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(data_dir=tmp_path, environment="production", secret_key=SecretStr("short"))
    key = "p" * 40
    s = Settings(data_dir=tmp_path, environment="production", secret_key=SecretStr(key))
    assert load_secret_key(s) == key.encode() and key not in repr(s)
    assert not (tmp_path / "secret_key").exists()


def test_development_key_generated_once_owner_only(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data")
    first = load_secret_key(s)
    path = tmp_path / "data" / "secret_key"
    assert len(first) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret_key(s) == first  # stable across restarts
    path.write_text("")
    with pytest.raises(RuntimeError, match="no usable key"):
        load_secret_key(s)
