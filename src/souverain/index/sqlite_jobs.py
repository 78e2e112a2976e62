"""SQL for ingestion jobs (the model and the worker are in ingest/jobs.py).

A job row carries its work list (``items``, JSON) so a queued job survives in the database; its
per-file reports go to ``job_reports`` in order. Every write is one autocommit statement: the
job's progress is advisory, the index itself is kept consistent by the per-file transactions.
Status changes that race with a cancel are guarded in the WHERE clause (``status='queued'``), so
a job is claimed by one worker at most and a queued job cancelled before it starts never runs.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any

from .sqlite_schema import Connections

_COLS = ("id, kind, status, total, done, current, created_at, started_at, finished_at, error, "
         "cancel_requested, owner, pid, items")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class JobTable:
    def __init__(self, conns: Connections) -> None:
        self.conns = conns

    @property
    def conn(self) -> sqlite3.Connection:
        return self.conns.get()

    def _row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        d = dict(zip([c.strip() for c in _COLS.split(",")], row, strict=True))
        d["items"] = json.loads(d["items"])
        d["reports"] = [json.loads(x) for (x,) in self.conn.execute(
            "SELECT detail FROM job_reports WHERE job_id=? ORDER BY ordinal", (d["id"],))]
        return d

    def create(self, kind: str, status: str, items: list[dict[str, Any]], owner: str, pid: int, total: int) -> int:
        at = now()
        cur = self.conn.execute(
            "INSERT INTO jobs(kind, status, total, created_at, started_at, owner, pid, items) VALUES (?,?,?,?,?,?,?,?)",
            (kind, status, total, at, at if status == "running" else None, owner, pid, json.dumps(items)),
        )
        return int(cur.lastrowid or 0)

    def get(self, job_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(f"SELECT {_COLS} FROM jobs WHERE id=?", (job_id,)).fetchone()
        return self._row(row) if row else None

    def latest(self, limit: int = 50, offset: int = 0, submitter: int | None = None) -> list[dict[str, Any]]:
        """Latest first; with ``submitter``, only the jobs whose items carry ``submitted_by`` = that user id."""
        if submitter is None:
            rows = self.conn.execute(f"SELECT {_COLS} FROM jobs ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset))
        else:
            rows = self.conn.execute(
                f"SELECT {_COLS} FROM jobs WHERE json_extract(items, '$[0].submitted_by') = ? "
                "ORDER BY id DESC LIMIT ? OFFSET ?", (submitter, limit, offset))
        return [self._row(r) for r in rows.fetchall()]

    def claim_next(self, owner: str, sync: bool = False) -> dict[str, Any] | None:
        """Mark the oldest queued job of ``owner`` running and return it (None when there is none).

        Source syncs (kind ``sync``) have their own worker, so a long sync never holds up uploads:
        ``sync=True`` claims only those, ``sync=False`` everything else.
        """
        kind = "kind = 'sync'" if sync else "kind != 'sync'"
        while True:
            row = self.conn.execute(
                f"SELECT id FROM jobs WHERE status='queued' AND owner=? AND {kind} ORDER BY id LIMIT 1",
                (owner,)).fetchone()
            if not row:
                return None
            cur = self.conn.execute("UPDATE jobs SET status='running', started_at=? WHERE id=? AND status='queued'",
                                    (now(), row[0]))
            if cur.rowcount:
                return self.get(row[0])

    def progress(self, job_id: int, done: int, current: str, total: int | None = None) -> None:
        if total is None:
            self.conn.execute("UPDATE jobs SET done=?, current=? WHERE id=?", (done, current, job_id))
        else:
            self.conn.execute("UPDATE jobs SET done=?, current=?, total=? WHERE id=?", (done, current, total, job_id))

    def add_report(self, job_id: int, detail: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO job_reports(job_id, ordinal, detail) VALUES "
            "(?, (SELECT count(*) FROM job_reports WHERE job_id=?), ?)",
            (job_id, job_id, json.dumps(detail, default=str)),
        )

    def finish(self, job_id: int, status: str, error: str = "") -> None:
        self.conn.execute("UPDATE jobs SET status=?, error=?, finished_at=?, current='' WHERE id=?",
                          (status, error, now(), job_id))

    def cancel_queued(self, job_id: int) -> bool:
        cur = self.conn.execute(
            "UPDATE jobs SET status='cancelled', cancel_requested=1, finished_at=? WHERE id=? AND status='queued'",
            (now(), job_id))
        return bool(cur.rowcount)

    def request_cancel(self, job_id: int) -> None:
        self.conn.execute("UPDATE jobs SET cancel_requested=1 WHERE id=? AND status='running'", (job_id,))

    def cancel_requested(self, job_id: int) -> bool:
        row = self.conn.execute("SELECT cancel_requested FROM jobs WHERE id=?", (job_id,)).fetchone()
        return bool(row and row[0])

    def unfinished_sync(self, source: str) -> list[tuple[int, str, int]]:
        """(id, owner, pid) of the queued or running syncs of a source."""
        return [(int(i), str(o), int(p)) for i, o, p in self.conn.execute(
            "SELECT id, owner, pid FROM jobs WHERE kind='sync' AND status IN ('queued', 'running') "
            "AND json_extract(items, '$[0].source') = ?", (source,))]

    def unfinished(self) -> list[tuple[int, str, int]]:
        """(id, owner, pid) of every queued or running job."""
        return [(int(i), str(o), int(p)) for i, o, p in self.conn.execute(
            "SELECT id, owner, pid FROM jobs WHERE status IN ('queued', 'running')")]

    def fail_unfinished(self, job_id: int, error: str) -> bool:
        cur = self.conn.execute(
            "UPDATE jobs SET status='failed', error=?, finished_at=?, current='' "
            "WHERE id=? AND status IN ('queued', 'running')", (error, now(), job_id))
        return bool(cur.rowcount)

    def sha_wanted(self, sha256: str, exclude_job: int = 0) -> bool:
        """Whether another queued or running job still needs the stored upload ``sha256``."""
        row = self.conn.execute(
            "SELECT 1 FROM jobs WHERE status IN ('queued', 'running') AND id != ? AND instr(items, ?) > 0 LIMIT 1",
            (exclude_job, f'"sha256": "{sha256}"')).fetchone()
        return row is not None
