"""Ingestion jobs: a queue in SQLite, one in-process worker thread, progress, ETA and cancel.

- A job is a list of items (an uploaded file by content hash, a local path, or a file whose
  failure is already known, e.g. too large). The worker runs one job at a time, oldest first, and
  each item ends in exactly one ``FileReport`` that goes both to the job and to ``ingest_reports``.
- Each file is one transaction (``SQLiteStore.replace_document``), so a cancel, a crash or a
  server stop between files leaves the index consistent. Cancel is checked between files; the
  files not reached are reported as ``failed``/``not_processed``. An exception inside one file
  is that file's ``failed`` report (``internal_error``), never a dead job.
- ETA = average seconds per finished file so far times the files left (``None`` until one is done).
- Jobs belong to the manager (``owner`` token + pid) that created them. On start, jobs that are
  still queued/running but whose owner is gone (its process died, or it was a manager of this
  process that was closed) become ``failed`` with error ``interrupted``; a job of another live
  process (``souverain ingest`` running next to the server) is left alone.
- ``souverain ingest`` runs its own ingestion synchronously and registers it as a ``path`` job
  through ``run_paths``; a cancel request for it is honoured between files too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from ..documents import RawDocument
from ..index.sqlite_jobs import JobTable
from ..index.sqlite_store import SQLiteStore
from .files import FileStore
from .pipeline import FileReport, Ingestor, collect_files

log = logging.getLogger(__name__)

JobKind = Literal["upload", "reingest", "path", "sync"]
IngestorFactory = Callable[[tuple[str, ...], str], Ingestor]

_LIVE_OWNERS: set[str] = set()  # managers alive in this process


class _Cancelled(Exception):
    pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def display_name(uri: str) -> str:
    return uri.removeprefix("upload:") if uri.startswith("upload:") else Path(uri).name


def not_processed(uri: str, why: str) -> FileReport:
    return FileReport(uri, "failed", "not_processed", f"not processed: {why}")


def public_job(row: dict[str, Any]) -> dict[str, Any]:
    eta = None
    if row["status"] == "running" and row["done"] and row["started_at"]:
        elapsed = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(row["started_at"])).total_seconds()
        eta = round(elapsed / row["done"] * max(row["total"] - row["done"], 0), 1)
    return {"id": row["id"], "kind": row["kind"], "status": row["status"], "total": row["total"], "done": row["done"],
            "current": row["current"], "created_at": row["created_at"], "started_at": row["started_at"],
            "finished_at": row["finished_at"], "eta_s": eta, "error": row["error"] or None, "reports": row["reports"],
            "source": (row["items"][0].get("source") if row["kind"] == "sync" and row["items"] else None)}


class JobManager:
    def __init__(self, store: SQLiteStore, files: FileStore, make_ingestor: IngestorFactory,
                 after_file: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.files = files
        self.table = JobTable(store.conns)
        self.make_ingestor = make_ingestor
        self.after_file = after_file
        self.owner = uuid.uuid4().hex
        _LIVE_OWNERS.add(self.owner)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # queries -----------------------------------------------------------------------------
    def get(self, job_id: int) -> dict[str, Any] | None:
        row = self.table.get(job_id)
        return public_job(row) if row else None

    def latest(self, limit: int = 50, offset: int = 0, submitter: int | None = None) -> list[dict[str, Any]]:
        return [public_job(r) for r in self.table.latest(limit, offset, submitter)]

    def submitter(self, job_id: int) -> int | None:
        """The user id that submitted the job (``submitted_by`` in its items; None for CLI jobs)."""
        row = self.table.get(job_id)
        items = row["items"] if row else []
        who = items[0].get("submitted_by") if items else None
        return who if isinstance(who, int) else None

    # commands ----------------------------------------------------------------------------
    def submit(self, kind: JobKind, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Queue a job. Items: ``{uri, source, principals, title?, sha256 | path, force?, failed?}``."""
        job_id = self.table.create(kind, "queued", items, self.owner, os.getpid(), len(items))
        self._wake.set()
        job = self.get(job_id)
        assert job is not None
        return job

    def cancel(self, job_id: int) -> dict[str, Any] | None:
        row = self.table.get(job_id)
        if row is None:
            return None
        if self.table.cancel_queued(job_id):
            for item in row["items"]:
                self._record(job_id, not_processed(item["uri"], "the job was cancelled before it started"))
            self._collect_garbage(row["items"], job_id)
        else:
            self.table.request_cancel(job_id)
        return self.get(job_id)

    def recover(self) -> int:
        """Fail the unfinished jobs whose owner is gone (see the module docstring). Returns how many."""
        n = 0
        for job_id, owner, pid in self.table.unfinished():
            if owner in _LIVE_OWNERS or (pid != os.getpid() and _pid_alive(pid)):
                continue
            if self.table.fail_unfinished(job_id, "interrupted"):
                n += 1
        return n

    def run_paths(self, paths: Iterable[Path | str], progress: Callable[[FileReport], None] | None = None) -> list[FileReport]:
        """Ingest local paths synchronously (the CLI) and record it as a ``path`` job."""
        paths = list(paths)
        total = 0
        for p in paths:
            root = Path(p).expanduser()
            total += len(collect_files(root)) if root.exists() else 1
        items = [{"uri": str(Path(p).expanduser().resolve()), "path": str(p)} for p in paths]
        job_id = self.table.create("path", "running", items, self.owner, os.getpid(), total)
        reports: list[FileReport] = []

        def on_file(rep: FileReport) -> None:
            reports.append(rep)
            self.table.add_report(job_id, rep.as_dict())
            self.table.progress(job_id, len(reports), display_name(rep.uri), max(total, len(reports)))
            self.after_file()
            if progress:
                progress(rep)
            if self.table.cancel_requested(job_id):
                raise _Cancelled

        try:
            self.make_ingestor(("public",), "local").ingest_paths(paths, on_file)
        except _Cancelled:
            self.table.finish(job_id, "cancelled")
        except BaseException as exc:
            self.table.finish(job_id, "failed", "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc))
            raise
        else:
            self.table.finish(job_id, "done")
        return reports

    # the worker --------------------------------------------------------------------------
    def start(self) -> None:
        self.recover()
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="souverain-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
        for job_id, owner, _ in self.table.unfinished():
            if owner == self.owner and not (self._thread and self._thread.is_alive()):
                self.table.fail_unfinished(job_id, "interrupted")
        _LIVE_OWNERS.discard(self.owner)

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self.table.claim_next(self.owner, sync=False)
            if job is None:
                self._wake.wait(timeout=5.0)
                self._wake.clear()
                continue
            try:
                self._run(job)
            except Exception as exc:  # a bug outside the per-file guard: the job fails, the worker lives
                log.exception("ingestion job %s failed", job["id"])
                self.table.finish(job["id"], "failed", f"{type(exc).__name__}: {exc}")

    def _record(self, job_id: int, rep: FileReport) -> None:
        self.store.record_report(rep.uri, rep.status, rep.reason, rep.as_dict())
        self.table.add_report(job_id, rep.as_dict())

    def _run(self, job: dict[str, Any]) -> None:
        job_id, items = job["id"], job["items"]
        try:
            for i, item in enumerate(items):
                stopping = self._stop.is_set()
                if stopping or self.table.cancel_requested(job_id):
                    why = "the server stopped" if stopping else "the job was cancelled"
                    for rest in items[i:]:
                        self._record(job_id, not_processed(rest["uri"], why))
                    self.table.progress(job_id, i, "")
                    self.table.finish(job_id, "failed" if stopping else "cancelled", "interrupted" if stopping else "")
                    return
                self.table.progress(job_id, i, display_name(item["uri"]))
                try:
                    rep = self._process(item)
                except Exception as exc:
                    log.exception("ingesting %s failed", item["uri"])
                    rep = FileReport(item["uri"], "failed", "internal_error", f"{type(exc).__name__}: {exc}")
                self._record(job_id, rep)
                self.table.progress(job_id, i + 1, "")
                self.after_file()
            self.table.finish(job_id, "done")
        finally:
            self._collect_garbage(items, job_id)

    def _process(self, item: dict[str, Any]) -> FileReport:
        uri = item["uri"]
        if item.get("failed"):
            return FileReport(uri, "failed", **item["failed"])
        ingestor = self.make_ingestor(tuple(item.get("principals") or ("public",)), item.get("source", "upload"))
        force = bool(item.get("force"))
        if item.get("path"):
            return ingestor.ingest_file(Path(item["path"]), force)
        data = self.files.read(item["sha256"])
        if data is None:
            return FileReport(uri, "failed", "file_missing", "the uploaded file is no longer stored")
        old = self.store.get_document(uri)
        raw = RawDocument(uri=uri, data=data, title=item.get("title", ""), source=item.get("source", "upload"),
                          principals=tuple(item.get("principals") or ("public",)))
        rep = ingestor.ingest_raw(raw, force)
        if old and old.sha256 != raw.sha256 and rep.status == "indexed" and old.source == "upload":
            self._collect_garbage([{"sha256": old.sha256}], 0)
        return rep

    def _collect_garbage(self, items: list[dict[str, Any]], job_id: int) -> None:
        """Remove stored uploads that no document and no other unfinished job uses."""
        for sha in {it["sha256"] for it in items if it.get("sha256")}:
            with contextlib.suppress(Exception):
                if not self.store.sha256_in_use(sha) and not self.table.sha_wanted(sha, job_id):
                    self.files.remove(sha)
