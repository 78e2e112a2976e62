"""Identity fixtures: a real SQLite index, a fast argon2 profile (the format is the same), a clock we move."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from souverain.governance.identity import IdentityService
from souverain.index.sqlite_store import SQLiteStore

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
SECRET = b"k" * 48
PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2025, 1, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "index.sqlite3")
    yield s
    s.close()


@pytest.fixture
def ident(store: SQLiteStore, clock: Clock) -> IdentityService:
    return IdentityService(store, SECRET, password_hasher=FAST_HASHER, clock=clock,
                           session_max_age=dt.timedelta(hours=8), session_idle=dt.timedelta(minutes=30))
