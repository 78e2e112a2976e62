"""Fixtures: a real SQLite index with users, groups and keys, and an ``Accounting`` on a settable clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from souverain.gateway.accounting import Accounting
from souverain.governance.identity import IdentityService
from souverain.index.sqlite_store import SQLiteStore

START = dt.datetime(2025, 3, 14, 12, 0, 0, tzinfo=dt.UTC)


@dataclass
class Clock:
    now: dt.datetime = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class Ledger:
    store: SQLiteStore
    ident: IdentityService
    acc: Accounting
    clock: Clock = field(default_factory=Clock)

    def key(self, username: str = "svc", scopes: tuple[str, ...] = ("models",)) -> tuple[int, int, str]:
        """(key id, user id, public id) of a new key of ``username`` (created when missing)."""
        user = self.ident.find_user(username) or self.ident.create_user(username)
        new = self.ident.create_api_key(user.id, scopes)
        return new.record.id, user.id, new.record.public_id


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    store = SQLiteStore(tmp_path / "index.sqlite3")
    clock = Clock()
    ident = IdentityService(store, b"s" * 32, clock=clock)
    yield Ledger(store, ident, Accounting(store.conns, clock=clock), clock)
    store.close()
