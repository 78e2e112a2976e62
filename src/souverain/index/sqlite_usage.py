"""SQL for the model gateway's limits, reservations and usage ledger (logic: gateway/accounting.py, usage.py).

- Timestamps are fixed-width UTC ISO strings (``ts`` of sqlite_identity), so SQL compares them as text
  and ``substr(at, 1, 10)`` is the UTC day.
- A request is counted in the rate windows at its *admission* time (``usage_reservations.created_at``,
  kept as ``usage_records.at``), with its reserved tokens while it runs and its real tokens once settled.
- The functions that take a ``conn`` run inside the caller's ``BEGIN IMMEDIATE`` transaction.
- Columns are chosen from fixed sets, never from request input.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .sqlite_identity import ts
from .sqlite_schema import Connections

Scope = Literal["key", "user"]
_LIMIT_TABLE = {"key": ("api_key_limits", "key_id"), "user": ("user_usage_limits", "user_id")}
_OWNER_COLUMN = {"key": "key_id", "user": "user_id"}


@dataclass(frozen=True)
class Limits:
    """What one API key (or one user, across its keys and web sessions) may use; None = unlimited.

    ``models`` None allows every model; an empty tuple allows none. ``team_id`` attributes the usage to a
    group (``access_groups``) in the reports.
    """

    rpm: int | None = None
    tpm: int | None = None
    tokens_per_month: int | None = None
    models: tuple[str, ...] | None = None
    team_id: int | None = None

    @property
    def empty(self) -> bool:
        return self == Limits()

    def as_json(self) -> dict[str, Any]:
        return {"rpm": self.rpm, "tpm": self.tpm, "tokens_per_month": self.tokens_per_month,
                "models": list(self.models) if self.models is not None else None, "team_id": self.team_id}


def _limits(row: tuple[Any, ...] | None) -> Limits | None:
    if row is None:
        return None
    rpm, tpm, month, models, team = row
    return Limits(rpm, tpm, month, tuple(json.loads(models)) if models is not None else None, team)


@dataclass(frozen=True)
class WindowEntry:
    at: str
    tokens: int


_RECORD_COLS = ("id", "reservation_id", "at", "finished_at", "key_id", "key_public_id", "user_id", "team_id", "model",
                "endpoint", "kind", "reserved_tokens", "prompt_tokens", "completion_tokens", "total_tokens", "usage_exact",
                "latency_ms", "ttft_ms", "status", "energy_kwh", "energy_kwh_min", "energy_kwh_max", "gco2e", "grid_factor",
                "grid_source", "pue", "method", "energy_note", "measured_kwh")

#: group-by dimensions of the reports: (SQL expression, output columns)
DIMENSIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "user": (("r.user_id", "u.username"), ("user_id", "username")),
    "team": (("r.team_id", "g.name"), ("team_id", "team")),
    "model": (("r.model",), ("model",)),
    "day": (("substr(r.at, 1, 10)",), ("day",)),
    "month": (("substr(r.at, 1, 7)",), ("month",)),
    "key": (("r.key_public_id",), ("key",)),
    "status": (("r.status",), ("status",)),
}
METRICS: tuple[tuple[str, str], ...] = (
    ("count(*)", "requests"),
    ("coalesce(sum(r.prompt_tokens), 0)", "prompt_tokens"),
    ("coalesce(sum(r.completion_tokens), 0)", "completion_tokens"),
    ("coalesce(sum(r.total_tokens), 0)", "total_tokens"),
    ("coalesce(sum(CASE WHEN r.usage_exact THEN 0 ELSE 1 END), 0)", "requests_with_estimated_usage"),
    ("coalesce(sum(r.energy_kwh), 0.0)", "energy_kwh"),
    ("coalesce(sum(r.energy_kwh_min), 0.0)", "energy_kwh_min"),
    ("coalesce(sum(r.energy_kwh_max), 0.0)", "energy_kwh_max"),
    ("sum(r.gco2e)", "gco2e"),  # NULL when no record has a grid factor: never a silent 0 g
    ("coalesce(sum(CASE WHEN r.energy_kwh IS NOT NULL AND r.gco2e IS NULL THEN 1 ELSE 0 END), 0)",
     "requests_without_gco2e"),
    ("coalesce(sum(CASE WHEN r.energy_kwh IS NULL THEN 1 ELSE 0 END), 0)", "requests_without_energy"),
    ("sum(r.measured_kwh)", "measured_kwh"),
    ("avg(r.latency_ms)", "avg_latency_ms"),
)


class UsageTables:
    def __init__(self, conns: Connections) -> None:
        self.conns = conns

    @property
    def conn(self) -> sqlite3.Connection:
        return self.conns.get()

    # limits --------------------------------------------------------------------------------
    def limits(self, scope: Scope, owner_id: int, conn: sqlite3.Connection | None = None) -> Limits | None:
        table, col = _LIMIT_TABLE[scope]
        row = (conn or self.conn).execute(
            f"SELECT rpm, tpm, tokens_per_month, models, team_id FROM {table} WHERE {col}=?", (owner_id,)).fetchone()
        return _limits(row)

    def set_limits(self, scope: Scope, owner_id: int, limits: Limits, at: dt.datetime) -> None:
        """Replace the limits (an empty ``Limits`` removes the row). IntegrityError on an unknown owner or team."""
        table, col = _LIMIT_TABLE[scope]
        if limits.empty:
            self.conn.execute(f"DELETE FROM {table} WHERE {col}=?", (owner_id,))
            return
        models = json.dumps(list(limits.models)) if limits.models is not None else None
        self.conn.execute(
            f"INSERT INTO {table}({col}, rpm, tpm, tokens_per_month, models, team_id, updated_at) VALUES (?,?,?,?,?,?,?) "
            f"ON CONFLICT({col}) DO UPDATE SET rpm=excluded.rpm, tpm=excluded.tpm, "
            "tokens_per_month=excluded.tokens_per_month, models=excluded.models, team_id=excluded.team_id, "
            "updated_at=excluded.updated_at",
            (owner_id, limits.rpm, limits.tpm, limits.tokens_per_month, models, limits.team_id, ts(at)))

    def key_by_public_id(self, public_id: str) -> tuple[int, int] | None:
        """(key id, user id) of a key, revoked or not."""
        row = self.conn.execute("SELECT id, user_id FROM api_keys WHERE public_id=?", (public_id,)).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def key_public_id(self, conn: sqlite3.Connection, key_id: int) -> str | None:
        row = conn.execute("SELECT public_id FROM api_keys WHERE id=?", (key_id,)).fetchone()
        return str(row[0]) if row else None

    # admission (inside the caller's transaction) --------------------------------------------
    def expire_reservations(self, conn: sqlite3.Connection, at: dt.datetime) -> int:
        """Reservations of requests that never settled (a crash) become 'expired' ledger rows with 0 tokens."""
        now = ts(at)
        conn.execute(
            "INSERT OR IGNORE INTO usage_records(reservation_id, at, finished_at, key_id, key_public_id, user_id, team_id, "
            "model, endpoint, kind, reserved_tokens, prompt_tokens, completion_tokens, total_tokens, usage_exact, status) "
            "SELECT id, created_at, expires_at, key_id, key_public_id, user_id, team_id, model, '', kind, tokens, 0, 0, 0, "
            "0, 'expired' FROM usage_reservations WHERE expires_at <= ?", (now,))
        return int(conn.execute("DELETE FROM usage_reservations WHERE expires_at <= ?", (now,)).rowcount)

    def window(self, conn: sqlite3.Connection, scope: Scope, owner_id: int, since: dt.datetime) -> list[WindowEntry]:
        """Requests admitted after ``since``, oldest first: settled ones with their real tokens, open ones
        with their reservation."""
        col = _OWNER_COLUMN[scope]
        rows = conn.execute(
            f"SELECT at, total_tokens FROM usage_records WHERE {col}=? AND at > ? "
            f"UNION ALL SELECT created_at, tokens FROM usage_reservations WHERE {col}=? AND created_at > ? ORDER BY 1",
            (owner_id, ts(since), owner_id, ts(since))).fetchall()
        return [WindowEntry(a, int(t)) for a, t in rows]

    def tokens_since(self, conn: sqlite3.Connection, scope: Scope, owner_id: int, since: dt.datetime) -> int:
        """Settled tokens admitted since ``since`` plus every open reservation."""
        col = _OWNER_COLUMN[scope]
        row = conn.execute(
            f"SELECT (SELECT coalesce(sum(total_tokens), 0) FROM usage_records WHERE {col}=? AND at >= ?) + "
            f"(SELECT coalesce(sum(tokens), 0) FROM usage_reservations WHERE {col}=?)",
            (owner_id, ts(since), owner_id)).fetchone()
        return int(row[0])

    def open_reservations(self, scope: Scope, owner_id: int) -> int:
        col = _OWNER_COLUMN[scope]
        return int(self.conn.execute(f"SELECT count(*) FROM usage_reservations WHERE {col}=?", (owner_id,)).fetchone()[0])

    def insert_reservation(self, conn: sqlite3.Connection, *, key_id: int | None, key_public_id: str | None,
                           user_id: int | None, team_id: int | None, model: str, kind: str, tokens: int,
                           at: dt.datetime, expires: dt.datetime) -> int:
        cur = conn.execute(
            "INSERT INTO usage_reservations(key_id, key_public_id, user_id, team_id, model, kind, tokens, created_at, "
            "expires_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (key_id, key_public_id, user_id, team_id, model, kind, tokens, ts(at), ts(expires)))
        return int(cur.lastrowid or 0)

    # settlement (inside the caller's transaction) ---------------------------------------------
    def take_reservation(self, conn: sqlite3.Connection, reservation_id: int) -> tuple[Any, ...] | None:
        """Delete an open reservation; its (created_at, key_public_id, tokens, kind), or None when gone."""
        row = conn.execute("SELECT created_at, key_public_id, tokens, kind FROM usage_reservations WHERE id=?",
                           (reservation_id,)).fetchone()
        if row is not None:
            conn.execute("DELETE FROM usage_reservations WHERE id=?", (reservation_id,))
        return tuple(row) if row else None

    def record_for_reservation(self, conn: sqlite3.Connection, reservation_id: int) -> tuple[int, str] | None:
        row = conn.execute("SELECT id, status FROM usage_records WHERE reservation_id=?", (reservation_id,)).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def insert_record(self, conn: sqlite3.Connection, values: dict[str, Any]) -> int:
        cols = [c for c in _RECORD_COLS if c in values and c != "id"]
        cur = conn.execute(f"INSERT INTO usage_records({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                           [values[c] for c in cols])
        return int(cur.lastrowid or 0)

    def update_record(self, conn: sqlite3.Connection, record_id: int, values: dict[str, Any]) -> None:
        cols = [c for c in _RECORD_COLS if c in values and c not in ("id", "reservation_id", "at")]
        conn.execute(f"UPDATE usage_records SET {', '.join(f'{c}=?' for c in cols)} WHERE id=?",
                     [*(values[c] for c in cols), record_id])

    # reads -----------------------------------------------------------------------------------
    def record(self, record_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(f"SELECT {', '.join(_RECORD_COLS)} FROM usage_records WHERE id=?", (record_id,)).fetchone()
        return dict(zip(_RECORD_COLS, row, strict=True)) if row else None

    def records(self, where: str = "1", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        rows = self.conn.execute(f"SELECT {', '.join(_RECORD_COLS)} FROM usage_records WHERE {where} ORDER BY id",
                                 list(params)).fetchall()
        return [dict(zip(_RECORD_COLS, r, strict=True)) for r in rows]

    def reservations(self) -> list[dict[str, Any]]:
        cols = ("id", "key_id", "key_public_id", "user_id", "team_id", "model", "kind", "tokens", "created_at", "expires_at")
        return [dict(zip(cols, r, strict=True)) for r in self.conn.execute(
            f"SELECT {', '.join(cols)} FROM usage_reservations ORDER BY id")]

    def aggregate(self, group_by: Iterable[str], *, start: dt.datetime | None = None, end: dt.datetime | None = None,
                  user_id: int | None = None, model: str | None = None, team_id: int | None = None,
                  key_public_id: str | None = None) -> list[dict[str, Any]]:
        """One row per combination of the ``group_by`` dimensions (``DIMENSIONS``) with the ``METRICS``."""
        dims = list(dict.fromkeys(group_by))
        unknown = [d for d in dims if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown group_by {unknown}: expected some of {', '.join(DIMENSIONS)}")
        exprs = [e for d in dims for e in DIMENSIONS[d][0]]
        names = [n for d in dims for n in DIMENSIONS[d][1]]
        where, params = ["1"], []
        for cond, value in (("r.at >= ?", ts(start) if start else None), ("r.at < ?", ts(end) if end else None),
                            ("r.user_id = ?", user_id), ("r.model = ?", model), ("r.team_id = ?", team_id),
                            ("r.key_public_id = ?", key_public_id)):
            if value is not None:
                where.append(cond)
                params.append(value)
        select = [*(f"{e} AS c{i}" for i, e in enumerate(exprs)), *(m for m, _ in METRICS)]
        sql = (f"SELECT {', '.join(select)} FROM usage_records r LEFT JOIN users u ON u.id = r.user_id "
               f"LEFT JOIN access_groups g ON g.id = r.team_id WHERE {' AND '.join(where)}")
        if exprs:
            sql += f" GROUP BY {', '.join(exprs)} ORDER BY {', '.join(exprs)}"
        out = []
        for row in self.conn.execute(sql, params):
            item = dict(zip([*names, *(n for _, n in METRICS)], row, strict=True))
            if item["requests"] == 0 and not exprs:  # no records: the totals row still comes back, all zero
                item["measured_kwh"] = None
            out.append(item)
        return out
