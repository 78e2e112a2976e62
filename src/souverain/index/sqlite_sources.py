"""SQL for sources and their sync state (the logic is in sources/runner.py and sources/manager.py).

- ``sources.settings`` is JSON holding credential *references* (``env:NAME``, ``file:/path``), never
  values (sources/secrets.py refuses literal secrets before anything is stored).
- ``cursor`` is the connector's resume point, written only after the page it follows was applied.
  ``pass_epoch`` numbers full passes; ``in_full_pass`` is 1 while one is unfinished, so a sync that
  resumes after a crash keeps marking items with the same epoch and the final sweep removes exactly
  the items that pass did not see.
- ``source_items.version`` is the source's version of the content; ``acl_hash`` the hash of the
  principals last applied. An item whose both match is never fetched again.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .sqlite_schema import Connections
from .sqlite_store import transaction


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass(frozen=True)
class SourceRow:
    id: int
    name: str
    kind: str
    settings: dict[str, Any]
    schedule_minutes: int
    enabled: bool
    watch: bool
    created_at: str
    cursor: str | None
    pass_epoch: int
    in_full_pass: bool
    status: str
    last_started_at: str | None
    last_finished_at: str | None
    last_success_at: str | None
    last_pruned_at: str | None
    last_error: str
    counts: dict[str, int]
    next_run_at: str | None


@dataclass(frozen=True)
class ItemRow:
    item_id: str
    uri: str
    name: str
    version: str
    acl_hash: str
    state: str
    seen_epoch: int


_SRC = ("id, name, kind, settings, schedule_minutes, enabled, watch, created_at, cursor, pass_epoch, in_full_pass, "
        "status, last_started_at, last_finished_at, last_success_at, last_pruned_at, last_error, counts, next_run_at")


def _source(row: Sequence[Any]) -> SourceRow:
    d = dict(zip([c.strip() for c in _SRC.split(",")], row, strict=True))
    d["settings"] = json.loads(d["settings"])
    d["counts"] = json.loads(d["counts"])
    for k in ("enabled", "watch", "in_full_pass"):
        d[k] = bool(d[k])
    return SourceRow(**d)


class SourceTable:
    def __init__(self, conns: Connections) -> None:
        self.conns = conns

    @property
    def conn(self) -> sqlite3.Connection:
        return self.conns.get()

    # configuration -------------------------------------------------------------------------
    def insert(self, name: str, kind: str, settings: dict[str, Any], schedule_minutes: int, enabled: bool,
               watch: bool) -> int:
        cur = self.conn.execute(
            "INSERT INTO sources(name, kind, settings, schedule_minutes, enabled, watch, created_at, next_run_at) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (name, kind, json.dumps(settings), schedule_minutes, int(enabled), int(watch), now_iso(), now_iso()))
        return int(cur.lastrowid or 0)

    def get(self, name: str) -> SourceRow | None:
        row = self.conn.execute(f"SELECT {_SRC} FROM sources WHERE name=?", (name,)).fetchone()
        return _source(row) if row else None

    def get_by_id(self, source_id: int) -> SourceRow | None:
        row = self.conn.execute(f"SELECT {_SRC} FROM sources WHERE id=?", (source_id,)).fetchone()
        return _source(row) if row else None

    def all(self) -> list[SourceRow]:
        return [_source(r) for r in self.conn.execute(f"SELECT {_SRC} FROM sources ORDER BY name")]

    def update(self, source_id: int, **fields: Any) -> None:
        allowed = {"settings", "schedule_minutes", "enabled", "watch", "next_run_at"}
        sets, params = [], []
        for key, value in fields.items():
            if key not in allowed:
                raise KeyError(key)
            sets.append(f"{key}=?")
            params.append(json.dumps(value) if key == "settings" else int(value) if isinstance(value, bool) else value)
        if sets:
            self.conn.execute(f"UPDATE sources SET {', '.join(sets)} WHERE id=?", [*params, source_id])

    def delete(self, source_id: int) -> None:
        self.conn.execute("DELETE FROM sources WHERE id=?", (source_id,))

    def due(self, at: str) -> list[SourceRow]:
        return [_source(r) for r in self.conn.execute(
            f"SELECT {_SRC} FROM sources WHERE enabled=1 AND schedule_minutes > 0 AND next_run_at IS NOT NULL "
            "AND next_run_at <= ? ORDER BY next_run_at", (at,))]

    # sync state ----------------------------------------------------------------------------
    def begin_run(self, source_id: int) -> None:
        self.conn.execute("UPDATE sources SET status='running', last_started_at=?, last_error='' WHERE id=?",
                          (now_iso(), source_id))

    def start_pass(self, source_id: int) -> int:
        """Begin a full pass: a new epoch, the cursor cleared. Returns the epoch."""
        conn = self.conn
        with transaction(conn):
            conn.execute("UPDATE sources SET pass_epoch = pass_epoch + 1, in_full_pass = 1, cursor = NULL WHERE id=?",
                         (source_id,))
            (epoch,) = conn.execute("SELECT pass_epoch FROM sources WHERE id=?", (source_id,)).fetchone()
        return int(epoch)

    def end_pass(self, source_id: int) -> None:
        self.conn.execute("UPDATE sources SET in_full_pass = 0 WHERE id=?", (source_id,))

    def save_cursor(self, source_id: int, cursor: str | None) -> None:
        self.conn.execute("UPDATE sources SET cursor=? WHERE id=?", (cursor, source_id))

    def reset_cursor(self, source_id: int) -> None:
        self.conn.execute("UPDATE sources SET cursor=NULL, in_full_pass=0 WHERE id=?", (source_id,))

    def finish_run(self, source_id: int, status: str, error: str, counts: dict[str, int], next_run_at: str | None,
                   pruned: bool = False) -> None:
        at = now_iso()
        self.conn.execute(
            "UPDATE sources SET status=?, last_error=?, counts=?, last_finished_at=?, next_run_at=?, "
            "last_success_at = CASE WHEN ?='done' THEN ? ELSE last_success_at END, "
            "last_pruned_at = CASE WHEN ? AND ?='done' THEN ? ELSE last_pruned_at END WHERE id=?",
            (status, error, json.dumps(counts), at, next_run_at, status, at, int(pruned), status, at, source_id))

    # items ---------------------------------------------------------------------------------
    def items(self, source_id: int) -> dict[str, ItemRow]:
        return {r[0]: ItemRow(*r) for r in self.conn.execute(
            "SELECT item_id, uri, name, version, acl_hash, state, seen_epoch FROM source_items WHERE source_id=?",
            (source_id,))}

    def put_item(self, source_id: int, row: ItemRow) -> None:
        self.conn.execute(
            "INSERT INTO source_items(source_id, item_id, uri, name, version, acl_hash, state, seen_epoch) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(source_id, item_id) DO UPDATE SET uri=excluded.uri, "
            "name=excluded.name, version=excluded.version, acl_hash=excluded.acl_hash, state=excluded.state, "
            "seen_epoch=max(seen_epoch, excluded.seen_epoch)",
            (source_id, row.item_id, row.uri, row.name, row.version, row.acl_hash, row.state, row.seen_epoch))

    def mark_seen(self, source_id: int, item_ids: Iterable[str], epoch: int) -> None:
        conn = self.conn
        with transaction(conn):
            conn.executemany("UPDATE source_items SET seen_epoch=? WHERE source_id=? AND item_id=? AND seen_epoch < ?",
                             [(epoch, source_id, i, epoch) for i in item_ids])

    def unseen(self, source_id: int, epoch: int) -> list[tuple[str, str]]:
        return [(i, u) for i, u in self.conn.execute(
            "SELECT item_id, uri FROM source_items WHERE source_id=? AND seen_epoch < ? ORDER BY item_id",
            (source_id, epoch))]

    def delete_item(self, source_id: int, item_id: str) -> None:
        self.conn.execute("DELETE FROM source_items WHERE source_id=? AND item_id=?", (source_id, item_id))

    def item_uris(self, source_id: int) -> dict[str, str]:
        return dict(self.conn.execute("SELECT item_id, uri FROM source_items WHERE source_id=?", (source_id,)).fetchall())

    def count_items(self, source_id: int) -> dict[str, int]:
        return dict(self.conn.execute(
            "SELECT state, count(*) FROM source_items WHERE source_id=? GROUP BY state", (source_id,)).fetchall())

    # external groups -----------------------------------------------------------------------
    def replace_groups(self, source_id: int, groups: Iterable[tuple[str, Sequence[str]]]) -> int:
        """Replace the members of the given groups (other groups of the source stay). Returns rows written."""
        conn = self.conn
        n = 0
        with transaction(conn):
            for group, members in groups:
                conn.execute("DELETE FROM external_group_members WHERE source_id=? AND group_principal=?",
                             (source_id, group))
                conn.executemany("INSERT OR IGNORE INTO external_group_members(source_id, group_principal, member) "
                                 "VALUES (?,?,?)", [(source_id, group, m) for m in set(members)])
                n += len(set(members))
        return n

    def drop_groups_except(self, source_id: int, keep: Iterable[str]) -> None:
        keep = list(keep)
        marks = ",".join("?" * len(keep)) or "''"
        self.conn.execute(f"DELETE FROM external_group_members WHERE source_id=? AND group_principal NOT IN ({marks})",
                          [source_id, *keep])

    def acl_principals(self, source_name: str, prefix: str) -> list[str]:
        """Distinct principals starting with ``prefix`` on the documents of a source."""
        return [p for (p,) in self.conn.execute(
            "SELECT DISTINCT a.principal FROM document_acl a JOIN documents d ON d.id = a.doc_id "
            "WHERE d.source=? AND substr(a.principal, 1, ?) = ?", (source_name, len(prefix), prefix))]
