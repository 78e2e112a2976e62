"""Usage and energy reports over the gateway's ledger (``usage_records``), as JSON rows or CSV.

- ``report()``: totals grouped by any of ``user``, ``team``, ``model``, ``day``, ``month``, ``key``,
  ``status`` (combinations allowed), over ``[from, to)``; a request belongs to the UTC day/month it was
  admitted in (the same instant the limits count it at).
- ``energy_month()``: a calendar month (UTC) per user, team and model: kWh (with the min/max of the
  estimate), gCO2e, and how many requests have no CO2e (grid country not configured then).
- ``me()``: one user's own totals, its limits and the state of its keys.
- ``to_csv()``: a header row, then one line per row; text cells that a spreadsheet would run as a
  formula (``= + - @``, tab, CR) are prefixed with ``'``.

Who sees what is the web layer's business (web/api/usage.py): administrators everything, everyone else
only their own records (``user_id`` filter).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ..index.sqlite_identity import ts
from ..index.sqlite_schema import Connections
from ..index.sqlite_usage import DIMENSIONS, METRICS, UsageTables

GROUPS: tuple[str, ...] = tuple(DIMENSIONS)
METRIC_COLUMNS: tuple[str, ...] = tuple(name for _, name in METRICS)
MONTH_RE = re.compile(r"(\d{4})-(\d{2})")


def parse_group_by(values: Iterable[str]) -> list[str]:
    """``["user,model", "day"]`` -> ``["user", "model", "day"]``; ValueError on an unknown dimension."""
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in DIMENSIONS:
                raise ValueError(f"unknown group_by {part.strip()!r}: expected some of {', '.join(GROUPS)}")
            if name not in out:
                out.append(name)
    return out


def parse_bound(value: str | None, *, end: bool = False) -> dt.datetime | None:
    """A report bound: ``YYYY-MM-DD`` (a ``to`` date includes that whole day) or an ISO datetime (UTC when
    naive; ``to`` is exclusive)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            if not end:
                return start
            try:
                return start + dt.timedelta(days=1)
            except OverflowError:
                return None  # to=9999-12-31: no upper bound
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid date {value!r}: expected YYYY-MM-DD or an ISO 8601 date and time") from None
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def parse_month(value: str) -> tuple[dt.datetime, dt.datetime]:
    """``YYYY-MM`` -> [first instant, first instant of the next month) in UTC."""
    m = MONTH_RE.fullmatch(value.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1:
        raise ValueError(f"invalid month {value!r}: expected YYYY-MM")
    year, month = int(m.group(1)), int(m.group(2))
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    if month == 12:
        end = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC) if year < dt.MAXYEAR else dt.datetime.max.replace(tzinfo=dt.UTC)
    else:
        end = dt.datetime(year, month + 1, 1, tzinfo=dt.UTC)
    return start, end


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def group_columns(group_by: Sequence[str]) -> list[str]:
    return [c for g in group_by for c in DIMENSIONS[g][1]]


class UsageReports:
    def __init__(self, conns: Connections) -> None:
        self.tables = UsageTables(conns)

    def totals(self, *, start: dt.datetime | None = None, end: dt.datetime | None = None, user_id: int | None = None,
               **filters: Any) -> dict[str, Any]:
        return self.tables.aggregate([], start=start, end=end, user_id=user_id, **filters)[0]

    def report(self, group_by: Sequence[str], *, start: dt.datetime | None = None, end: dt.datetime | None = None,
               user_id: int | None = None, model: str | None = None, team_id: int | None = None,
               key_public_id: str | None = None) -> dict[str, Any]:
        filters: dict[str, Any] = {"user_id": user_id, "model": model, "team_id": team_id, "key_public_id": key_public_id}
        rows = self.tables.aggregate(group_by, start=start, end=end, **filters)
        return {"group_by": list(group_by), "from": start.isoformat() if start else None,
                "to": end.isoformat() if end else None, "columns": [*group_columns(group_by), *METRIC_COLUMNS],
                "rows": rows, "totals": self.totals(start=start, end=end, **filters)}

    def energy_month(self, month: str, *, user_id: int | None = None) -> dict[str, Any]:
        start, end = parse_month(month)
        out: dict[str, Any] = {"month": f"{start:%Y-%m}", "from": start.isoformat(), "to": end.isoformat()}
        for dim in ("user", "team", "model"):
            out[f"by_{dim}"] = self.tables.aggregate([dim], start=start, end=end, user_id=user_id)
        out["totals"] = self.totals(start=start, end=end, user_id=user_id)
        out["methods"] = self._distinct("method", start, end, user_id)
        out["grid_sources"] = self._distinct("grid_source", start, end, user_id)
        return out

    def _distinct(self, column: str, start: dt.datetime, end: dt.datetime, user_id: int | None) -> list[str]:
        assert column in ("method", "grid_source")
        sql = f"SELECT DISTINCT {column} FROM usage_records WHERE at >= ? AND at < ? AND {column} IS NOT NULL"
        params: list[Any] = [ts(start), ts(end)]
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        return sorted(v for (v,) in self.tables.conn.execute(sql, params))

    @staticmethod
    def energy_csv_rows(report: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
        """The monthly energy report flattened for CSV: one line per user, team and model, then the total."""
        rows: list[dict[str, Any]] = []
        for dim, id_col, name_col in (("user", "user_id", "username"), ("team", "team_id", "team"),
                                      ("model", None, "model")):
            for r in report[f"by_{dim}"]:
                rows.append({"month": report["month"], "dimension": dim, "id": r.get(id_col) if id_col else None,
                             "name": r.get(name_col), **{m: r[m] for m in METRIC_COLUMNS}})
        rows.append({"month": report["month"], "dimension": "total", "id": None, "name": None,
                     **{m: report["totals"][m] for m in METRIC_COLUMNS}})
        return rows, ["month", "dimension", "id", "name", *METRIC_COLUMNS]

    def me(self, user_id: int, now: dt.datetime | None = None) -> dict[str, Any]:
        at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        month_start, month_end = parse_month(f"{at:%Y-%m}")
        day_start = dt.datetime(at.year, at.month, at.day, tzinfo=dt.UTC)
        return {
            "user_id": user_id, "month": f"{at:%Y-%m}",
            "today": self.totals(start=day_start, end=day_start + dt.timedelta(days=1), user_id=user_id),
            "this_month": self.totals(start=month_start, end=month_end, user_id=user_id),
            "all_time": self.totals(user_id=user_id),
            "this_month_by_model": self.tables.aggregate(["model"], start=month_start, end=month_end, user_id=user_id),
        }
