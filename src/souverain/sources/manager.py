"""Sources: configuration, sync jobs, the schedule and the local-folder watcher.

- ``add``/``update`` validate a source's settings with its connector's ``config_model`` before
  anything is stored; credentials are references (sources/secrets.py), so the stored settings, the
  API and the UI never hold a secret.
- A sync is a job (kind ``sync``) in the jobs table: it has progress, an ETA, a cancel button and
  per-item reports like an upload. ``sync`` runs one in the calling thread (the CLI);
  ``submit_sync`` queues one for the sync worker thread of the server, which is separate from the
  upload worker so a long sync never holds up uploads.
- One sync per source at a time: a source whose sync job is queued or running in a live process is
  refused (``SyncBusyError``); a job left ``running`` by a dead process (SIGKILL) does not block, and
  the next sync resumes from the saved cursor (sources/runner.py).
- The scheduler submits a sync for each enabled source whose ``next_run_at`` has passed (every
  ``schedule_minutes``; 0 = manual only). A sync that was interrupted is due at once on start.
- Local folders with ``watch`` on are also watched (watchfiles): a change submits a sync within
  about two seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from ..index.sqlite_jobs import JobTable
from ..index.sqlite_sources import SourceRow, SourceTable, now_iso
from ..index.sqlite_store import SQLiteStore
from ..ingest.jobs import _LIVE_OWNERS, JobManager, _pid_alive
from ..ingest.pipeline import FileReport, Ingestor
from .base import ConnectorContext, SourceError
from .http import HttpClient
from .registry import TITLES, connector_class
from .runner import SyncProgress, SyncResult, SyncRunner, next_run
from .secrets import SecretError, SecretResolver

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
RESERVED = frozenset({"local", "upload"})


class SourceConfigError(ValueError):
    """Invalid source settings, with a message that names the fields."""


class SourceNotFound(LookupError):
    pass


class SyncBusyError(RuntimeError):
    pass


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "settings"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def public_source(row: SourceRow, items: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "kind": row.kind, "kind_title": TITLES.get(row.kind, row.kind),
        "settings": row.settings, "schedule_minutes": row.schedule_minutes, "enabled": row.enabled, "watch": row.watch,
        "created_at": row.created_at, "state": row.status, "last_started_at": row.last_started_at,
        "last_finished_at": row.last_finished_at, "last_success_at": row.last_success_at,
        "last_pruned_at": row.last_pruned_at,
        "last_error": row.last_error or None, "counts": row.counts, "next_run_at": row.next_run_at,
        "resuming": row.in_full_pass or (row.status == "running"), "items": items or {},
    }


class SourceManager:
    def __init__(self, store: SQLiteStore, jobs: JobManager, make_ingestor: Callable[[str], Ingestor], *,
                 max_bytes: int, after_item: Callable[[], None] = lambda: None,
                 secrets: SecretResolver | None = None, schedule_poll_s: float = 5.0) -> None:
        self.store = store
        self.table = SourceTable(store.conns)
        self.jobs = jobs
        self.job_table: JobTable = jobs.table
        self.make_ingestor = make_ingestor
        self.max_bytes = max_bytes
        self.after_item = after_item
        self.secrets = secrets or SecretResolver()
        self.schedule_poll_s = schedule_poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watch_changed = threading.Event()

    # configuration -------------------------------------------------------------------------
    def _validate(self, kind: str, settings: dict[str, Any]) -> dict[str, Any]:
        try:
            cls = connector_class(kind)
        except SourceError as exc:
            raise SourceConfigError(str(exc)) from None
        try:
            model = cls.config_model.model_validate(settings)
        except ValidationError as exc:
            raise SourceConfigError(f"invalid settings for a {kind} source: {_validation_message(exc)}") from None
        dumped: dict[str, Any] = model.model_dump(mode="json")
        return dumped

    def add(self, name: str, kind: str, settings: dict[str, Any], schedule_minutes: int = 60, enabled: bool = True,
            watch: bool = False) -> dict[str, Any]:
        if not NAME_RE.fullmatch(name or "") or name in RESERVED:
            raise SourceConfigError(f"invalid source name {name!r}: use 1-64 lowercase letters, digits, '.', '_' or '-'"
                                    + (f" ('{name}' is reserved)" if name in RESERVED else ""))
        if not 0 <= schedule_minutes <= 7 * 24 * 60:
            raise SourceConfigError("schedule_minutes must be between 0 (manual only) and 10080 (one week)")
        if watch and kind != "local":
            raise SourceConfigError("watch mode is available for local folders only")
        clean = self._validate(kind, settings)
        if self.table.get(name) is not None:
            raise SourceConfigError(f"a source named {name!r} already exists")
        self.table.insert(name, kind, clean, schedule_minutes, enabled, watch)
        self._watch_changed.set()
        return self.get(name)

    def update(self, name: str, *, settings: dict[str, Any] | None = None, schedule_minutes: int | None = None,
               enabled: bool | None = None, watch: bool | None = None) -> dict[str, Any]:
        row = self._row(name)
        fields: dict[str, Any] = {}
        if settings is not None:
            fields["settings"] = self._validate(row.kind, settings)
        if schedule_minutes is not None:
            if not 0 <= schedule_minutes <= 7 * 24 * 60:
                raise SourceConfigError("schedule_minutes must be between 0 (manual only) and 10080 (one week)")
            fields["schedule_minutes"] = schedule_minutes
        if enabled is not None:
            fields["enabled"] = enabled
        if watch is not None:
            if watch and row.kind != "local":
                raise SourceConfigError("watch mode is available for local folders only")
            fields["watch"] = watch
        if "schedule_minutes" in fields or "enabled" in fields:
            new = {**row.__dict__, **fields}
            fields["next_run_at"] = next_run(new["schedule_minutes"], new["enabled"])
        self.table.update(row.id, **fields)
        self._watch_changed.set()
        return self.get(name)

    def remove(self, name: str) -> int:
        """Delete the source, its sync state and every document it brought. Returns documents removed."""
        row = self._row(name)
        if self._busy(name):
            raise SyncBusyError(f"a sync of {name!r} is running; cancel it first")
        n = 0
        for uri in self.store.document_uris(source=name):
            n += bool(self.store.delete_document(uri))
        self.table.delete(row.id)
        self._watch_changed.set()
        return n

    def _row(self, name: str) -> SourceRow:
        row = self.table.get(name)
        if row is None:
            raise SourceNotFound(f"no source named {name!r}")
        return row

    def get(self, name: str) -> dict[str, Any]:
        row = self._row(name)
        return public_source(row, self.table.count_items(row.id))

    def all(self) -> list[dict[str, Any]]:
        return [public_source(r, self.table.count_items(r.id)) for r in self.table.all()]

    def item_uris(self, name: str) -> dict[str, str]:
        return self.table.item_uris(self._row(name).id)

    # connectors ----------------------------------------------------------------------------
    def connector(self, row: SourceRow, cancelled: Callable[[], bool] = lambda: False) -> Any:
        cls = connector_class(row.kind)
        model = cls.config_model.model_validate(row.settings)
        ctx = ConnectorContext(HttpClient(cancelled=cancelled), self.secrets, self.max_bytes)
        return cls(model, ctx)

    def check(self, name: str) -> str:
        conn = self.connector(self._row(name))
        try:
            return str(conn.check())
        except SecretError as exc:
            raise SourceError("missing_credentials", str(exc)) from None
        finally:
            conn.close()

    # syncing -------------------------------------------------------------------------------
    def _busy(self, name: str, except_job: int | None = None) -> bool:
        for job_id, owner, pid in self.job_table.unfinished_sync(name):
            if job_id == except_job:
                continue
            if owner in _LIVE_OWNERS or (pid != os.getpid() and _pid_alive(pid)):
                return True
            self.job_table.fail_unfinished(job_id, "interrupted")
        return False

    def sync(self, name: str, full: bool = False, prune: bool = False,
             progress: Callable[[SyncProgress, FileReport | None], None] | None = None,
             submitted_by: int | None = None) -> SyncResult:
        """Run a sync now in this thread, recorded as a job. Raises SyncBusyError when one is running."""
        row = self._row(name)
        if self._busy(name):
            raise SyncBusyError(f"a sync of {name!r} is already running")
        item = self._job_item(name, full, prune, submitted_by)
        job_id = self.job_table.create("sync", "running", [item], self.jobs.owner, os.getpid(), 0)
        return self._run_job(job_id, row, full, progress, prune)

    @staticmethod
    def _job_item(name: str, full: bool, prune: bool, submitted_by: int | None) -> dict[str, Any]:
        return {"uri": f"source:{name}", "source": name, "full": full, "prune": prune, "submitted_by": submitted_by}

    def submit_sync(self, name: str, full: bool = False, submitted_by: int | None = None,
                    prune: bool = False) -> dict[str, Any]:
        """Queue a sync for the server's sync worker; returns the job."""
        self._row(name)
        if self._busy(name):
            raise SyncBusyError(f"a sync of {name!r} is already queued or running")
        job = self.jobs.submit("sync", [self._job_item(name, full, prune, submitted_by)])
        self._wake.set()
        return job

    def _run_job(self, job_id: int, row: SourceRow, full: bool,
                 progress: Callable[[SyncProgress, FileReport | None], None] | None = None,
                 prune: bool = False) -> SyncResult:
        cancelled = lambda: self._stop.is_set() or self.job_table.cancel_requested(job_id)  # noqa: E731

        def on_progress(p: SyncProgress, rep: FileReport | None) -> None:
            if rep is not None and rep.status != "unchanged":
                self.job_table.add_report(job_id, rep.as_dict())
                self.after_item()
            if rep is not None or p.done % 200 == 0:
                self.job_table.progress(job_id, p.done, p.current, p.total)
            if progress:
                progress(p, rep)

        try:
            connector = self.connector(row, cancelled)
        except Exception as exc:
            result = SyncResult(row.name, "failed", error=f"invalid_settings: {exc}")
            self.table.finish_run(row.id, "failed", result.error, result.counts, next_run(row.schedule_minutes, row.enabled))
            self.job_table.finish(job_id, "failed", result.error)
            return result
        try:
            runner = SyncRunner(row, connector, self.table, self.store, self.make_ingestor(row.name),
                                max_bytes=self.max_bytes, progress=on_progress, cancelled=cancelled)
            try:
                result = runner.run(full, prune or self._prune_due(row))
            except SecretError as exc:  # raised lazily by connectors that resolve credentials on first use
                result = runner.result
                result.status, result.error = "failed", f"missing_credentials: {exc}"
        finally:
            connector.close()
        interrupted = result.status == "cancelled" and self._stop.is_set()
        state = "failed" if interrupted else result.status
        error = "interrupted: the server stopped; the next sync resumes" if interrupted else result.error
        # an interrupted or failed sync is retried at the next scheduled time; a stop resumes at once on start
        self.table.finish_run(row.id, state, error, result.counts,
                              now_iso() if interrupted else next_run(row.schedule_minutes, row.enabled), result.pruned)
        self.job_table.progress(job_id, runner.done, "", max(runner.total, runner.done))
        self.job_table.finish(job_id, {"done": "done", "cancelled": "cancelled"}.get(state, "failed"), error)
        return result

    def _prune_due(self, row: SourceRow) -> bool:
        """Prune (ListsIds) at most once a day on its own; on request at any time."""
        if not row.last_pruned_at:
            return True
        return dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(row.last_pruned_at) > dt.timedelta(days=1)

    # the server's threads ------------------------------------------------------------------
    def start(self) -> None:
        """Start the sync worker, the scheduler and the watcher (the server calls this)."""
        self._stop.clear()
        for row in self.table.all():  # syncs cut short by a crash or a stop resume at once
            if row.status == "running" or row.in_full_pass:
                self.table.update(row.id, next_run_at=now_iso())
        for target, name in ((self._worker, "souverain-sync"), (self._scheduler, "souverain-schedule"),
                             (self._watcher, "souverain-watch")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        self._watch_changed.set()
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    def _worker(self) -> None:
        while not self._stop.is_set():
            job = self.job_table.claim_next(self.jobs.owner, sync=True)
            if job is None:
                self._wake.wait(timeout=2.0)
                self._wake.clear()
                continue
            item = job["items"][0]
            row = self.table.get(item["source"])
            if row is None:
                self.job_table.finish(job["id"], "failed", "the source was removed")
                continue
            try:
                self._run_job(job["id"], row, bool(item.get("full")), prune=bool(item.get("prune")))
            except Exception as exc:
                log.exception("sync job %s failed", job["id"])
                self.job_table.finish(job["id"], "failed", f"{type(exc).__name__}: {exc}")

    def _scheduler(self) -> None:
        while not self._stop.wait(self.schedule_poll_s):
            self.run_due()

    def run_due(self) -> list[str]:
        """Submit a sync for every source that is due; returns their names."""
        submitted = []
        for row in self.table.due(now_iso()):
            if self._busy(row.name):
                continue
            try:
                self.submit_sync(row.name)
            except SyncBusyError:
                continue
            # pushed forward now so a slow sync is not submitted twice; finish_run sets the real next time
            self.table.update(row.id, next_run_at=next_run(max(row.schedule_minutes, 1), True))
            submitted.append(row.name)
        return submitted

    def _watcher(self) -> None:
        from .local import watch_sources

        while not self._stop.is_set():
            self._watch_changed.clear()
            watched = {r.name: r for r in self.table.all() if r.kind == "local" and r.watch and r.enabled}
            if not watched:
                self._watch_changed.wait(timeout=5.0)
                continue
            try:
                for name in watch_sources(watched.values(), stop=lambda: self._stop.is_set() or self._watch_changed.is_set()):
                    try:
                        self.submit_sync(name)
                    except (SyncBusyError, SourceNotFound):
                        self._queue_after_busy(name)
            except Exception:  # a vanished folder: wait for the configuration to change, retry later
                log.exception("watching local folders failed")
                self._watch_changed.wait(timeout=10.0)

    def _queue_after_busy(self, name: str) -> None:
        """A change arrived while a sync ran: run another one right after it."""
        row = self.table.get(name)
        if row is not None:
            self.table.update(row.id, next_run_at=(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat())
