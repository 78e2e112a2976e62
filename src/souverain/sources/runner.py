"""The sync runner: drives one connector so that, after a sync, the index equals the source.

Guarantees (tests/sources/ prove them per connector):

- **New and changed items are indexed, deleted and moved-out items removed, permission changes
  applied.** An item is fetched only when its version (or name) differs from the stored one, or
  it failed to download last time; when only its principals differ the ACL rows are replaced in
  place (``set_principals``), with no download.
- **Crash safe.** Each document is stored in its own transaction (``replace_document``); the
  cursor/token of a page is saved only after the whole page was applied, so a crash (SIGKILL
  included) resumes at the last saved page and applies it again, which is harmless: an item that
  already matches is skipped, a deletion of something already gone is a no-op, and a document is
  keyed by its URI so it can never be stored twice.
- **Deletions never missed.** During a full pass (every ``LoadsAll`` sync; the first ``PollsChanges``
  sync and every resync after ``ResyncRequired``) each listed item is stamped with the pass's epoch;
  when the pass ends, items with an older epoch are removed. The epoch survives a crash, so a
  resumed pass only removes what the whole pass did not see.
- **One bad item never stops a sync.** ``ItemError``, parser failures and oversize files become a
  ``failed`` report for that item; a source-level ``SourceError`` (bad credentials...) stops the
  sync, keeps everything stored and the cursor, and is shown as the source's last error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ..documents import RawDocument
from ..index.sqlite_sources import ItemRow, SourceRow, SourceTable
from ..index.sqlite_store import SQLiteStore
from ..ingest.pipeline import FileReport, Ingestor
from .base import (
    Change,
    FetchesContent,
    GetsItem,
    ItemError,
    ListsIds,
    LoadsAll,
    PollsChanges,
    ReadsPermissions,
    ResyncRequired,
    SourceError,
    SourceItem,
    SyncsGroups,
)

log = logging.getLogger(__name__)

COUNTS = ("added", "updated", "unchanged", "permissions_updated", "deleted", "failed")


class SyncCancelled(Exception):
    pass


@dataclass
class SyncProgress:
    done: int  # items looked at so far
    total: int  # best estimate of the items to look at (grows while a listing goes on)
    current: str
    counts: dict[str, int]


@dataclass
class SyncResult:
    source: str
    status: str  # done | failed | cancelled
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    reports: list[FileReport] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    full_pass: bool = False
    pruned: bool = False
    http: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "status": self.status, "counts": self.counts, "error": self.error,
                "seconds": round(self.seconds, 3), "full_pass": self.full_pass, "pruned": self.pruned, "http": self.http,
                "reports": [r.as_dict() for r in self.reports]}


def document_uri(kind: str, source: str, item_id: str) -> str:
    return f"{kind}://{source}/{urllib.parse.quote(item_id, safe='')}"


def acl_hash(principals: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(sorted(set(principals))).encode()).hexdigest()[:32]


class SyncRunner:
    def __init__(self, source: SourceRow, connector: Any, table: SourceTable, store: SQLiteStore, ingestor: Ingestor,
                 *, max_bytes: int, progress: Callable[[SyncProgress, FileReport | None], None] | None = None,
                 cancelled: Callable[[], bool] = lambda: False, max_resyncs: int = 2) -> None:
        self.source = source
        self.connector = connector
        self.table = table
        self.store = store
        self.ingestor = ingestor
        self.max_bytes = max_bytes
        self.progress = progress
        self.cancelled = cancelled
        self.max_resyncs = max_resyncs
        self.result = SyncResult(source.name, "running")
        self.known: dict[str, ItemRow] = {}
        self.epoch = source.pass_epoch
        self.in_pass = source.in_full_pass
        self.done = 0
        self.total = 0
        self._seen: list[str] = []
        self._touched: set[str] = set()  # items written by this sync

    # entry point ---------------------------------------------------------------------------
    def run(self, full: bool = False, prune: bool = False) -> SyncResult:
        """One sync. ``full`` re-enumerates everything; ``prune`` (change feeds with ``ListsIds``) also
        removes stored items the source no longer lists, a cheap safety net against a missed deletion."""
        t0 = time.perf_counter()
        sid = self.source.id
        self.table.begin_run(sid)
        self.known = self.table.items(sid)
        self.total = len(self.known)
        cursor = self.source.cursor
        if full:
            cursor = None
            self._start_pass()
        try:
            if isinstance(self.connector, PollsChanges):
                self._run_changes(cursor)
                if prune and not self.result.full_pass and isinstance(self.connector, ListsIds):
                    self._prune()
                if isinstance(self.connector, GetsItem):
                    self._retry_failed()
            elif isinstance(self.connector, LoadsAll):
                self._run_listing(cursor)
            else:
                raise SourceError("unsupported", f"{type(self.connector).__name__} can neither list nor follow changes")
            if isinstance(self.connector, SyncsGroups):
                self._sync_groups()
            self.result.status = "done"
        except SyncCancelled:
            self.result.status = "cancelled"
        except SourceError as exc:
            self.result.status, self.result.error = "failed", f"{exc.reason}: {exc}"
        except Exception as exc:  # a connector bug: the sync fails visibly, what is stored stays
            log.exception("sync of %s failed", self.source.name)
            self.result.status, self.result.error = "failed", f"internal_error: {type(exc).__name__}: {exc}"
        finally:
            self._flush_seen()
        self.result.seconds = time.perf_counter() - t0
        http = getattr(getattr(self.connector, "ctx", None), "http", None)
        if http is not None:
            s = http.stats
            self.result.http = {"requests": s.requests, "retries": s.retries, "throttled": s.throttled,
                                "waited_s": round(s.waited_s, 2)}
        return self.result

    # the two modes -------------------------------------------------------------------------
    def _start_pass(self) -> None:
        self._flush_seen()
        self.epoch = self.table.start_pass(self.source.id)
        self.in_pass = True
        self.result.full_pass = True

    def _end_pass(self) -> None:
        self._flush_seen()
        for item_id, uri in self.table.unseen(self.source.id, self.epoch):
            self._delete(item_id, uri, "no longer in the source")
        self.table.end_pass(self.source.id)
        self.in_pass = False

    def _run_changes(self, cursor: str | None) -> None:
        if cursor is None and not self.in_pass:
            self._start_pass()
        if self.in_pass:
            self.result.full_pass = True
        resyncs = 0
        while True:
            self._check_cancel()
            try:
                page = self.connector.changes(cursor)
            except ResyncRequired:
                resyncs += 1
                if resyncs > self.max_resyncs:
                    raise SourceError("resync_loop", "the source asked for a full resync again and again") from None
                log.info("%s: cursor expired, full resync", self.source.name)
                self._start_pass()
                cursor = None
                continue
            if self.in_pass and not page.full:
                self._end_pass()  # the enumeration is complete; what follows are changes after it
            for change in page.changes:
                self._apply(change)
            self._flush_seen()
            self.table.save_cursor(self.source.id, page.cursor)
            cursor = page.cursor
            if not page.more:
                break
        if self.in_pass:
            self._end_pass()

    def _run_listing(self, token: str | None) -> None:
        resumed = self.in_pass and token is not None
        if not self.in_pass:
            self._start_pass()
            token = None
        self.result.full_pass = True
        self._list_all(token)
        if resumed:
            # the interrupted pass listed some folders/pages before the crash: changes made there since
            # are only seen by a pass from the start, which costs metadata only for unchanged items
            self._start_pass()
            self._list_all(None)

    def _list_all(self, token: str | None) -> None:
        while True:
            self._check_cancel()
            page = self.connector.list_page(token)
            self.total = max(self.total, self.done + len(page.items))
            for item in page.items:
                self._apply(Change(item.id, item))
            self._flush_seen()
            token = page.next_token
            self.table.save_cursor(self.source.id, token)
            if token is None:
                break
        self._end_pass()

    def _retry_failed(self, limit: int = 200) -> None:
        """Downloads that failed on an earlier sync (kept with version "") and not touched by this one."""
        waiting = [i for i, row in self.known.items()
                   if row.state == "failed" and row.version == "" and i not in self._touched][:limit]
        for item_id in waiting:
            self._check_cancel()
            try:
                item = self.connector.item(item_id)
            except ItemError as exc:  # still unreachable: stays failed, the rest of the sync carries on
                self._count("failed")
                self._report(FileReport(self.known[item_id].uri, "failed", exc.reason, str(exc)), item_id)
                continue
            self._apply(Change(item_id, item))
            if item is None and item_id in self.known:  # gone, and never stored: forget it
                self.table.delete_item(self.source.id, item_id)
                self.known.pop(item_id, None)

    def _prune(self) -> None:
        listed = set(self.connector.list_ids())  # complete before anything is deleted
        for item_id, row in list(self.known.items()):
            if item_id not in listed:
                self._delete(item_id, row.uri, "no longer listed by the source")
        self.result.pruned = True

    # applying one change -------------------------------------------------------------------
    def _check_cancel(self) -> None:
        if self.cancelled():
            raise SyncCancelled

    def _count(self, key: str) -> None:
        self.result.counts[key] = self.result.counts.get(key, 0) + 1

    def _report(self, rep: FileReport | None, current: str) -> None:
        self.done += 1
        self.total = max(self.total, self.done)
        if rep is not None:
            self.store.record_report(rep.uri, rep.status, rep.reason, rep.as_dict())
            if rep.status != "unchanged":
                self.result.reports.append(rep)
        if self.progress:
            self.progress(SyncProgress(self.done, self.total, current, dict(self.result.counts)), rep)

    def _flush_seen(self) -> None:
        if self._seen:
            self.table.mark_seen(self.source.id, self._seen, self.epoch)
            self._seen = []

    def _apply(self, change: Change) -> None:
        if change.item is None:
            row = self.known.get(change.item_id)
            if row is not None:
                self._delete(change.item_id, row.uri, "deleted or moved out of the synced scope")
            return
        self._check_cancel()
        try:
            self._upsert(change.item)
        except ItemError as exc:
            uri = document_uri(self.source.kind, self.source.name, change.item.id)
            self._failed(change.item, uri, exc.reason, str(exc), version="")

    def _principals(self, item: SourceItem) -> tuple[str, ...]:
        if item.principals is not None:
            return tuple(sorted(set(item.principals)))
        if isinstance(self.connector, ReadsPermissions):
            return tuple(sorted(set(self.connector.permissions(item))))
        return ()

    def _upsert(self, item: SourceItem) -> None:
        uri = document_uri(self.source.kind, self.source.name, item.id)
        principals = self._principals(item)
        ahash = acl_hash(principals)
        row = self.known.get(item.id)
        same_content = (row is not None and row.version == item.version and row.name == item.name
                        and bool(item.version) and (row.state != "failed" or row.version != ""))
        if same_content and row is not None:
            if row.acl_hash != ahash:
                if row.state == "indexed":
                    self.store.set_principals(uri, principals)
                self._put(item, uri, ahash, row.state)
                self._count("permissions_updated")
                self._report(FileReport(uri, "indexed", message="permissions updated"), item.name)
            else:
                if self.in_pass:
                    self._seen.append(item.id)
                self._count("unchanged")
                self._report(None, item.name)
            return
        if item.size is not None and item.size > self.max_bytes:
            self._failed(item, uri, "file_too_large", f"file is {item.size / 1e6:.1f} MB, over the limit of "
                         f"{self.max_bytes / 1e6:.1f} MB", version=item.version)
            return
        if not isinstance(self.connector, FetchesContent):
            raise SourceError("unsupported", f"{type(self.connector).__name__} cannot fetch content")
        data = self.connector.fetch(item)
        raw = RawDocument(uri=uri, data=data, title=PurePosixPath(item.name).stem or item.name, source=self.source.name,
                          modified_at=item.modified_at, principals=principals,
                          metadata={k: v for k, v in (("source_kind", self.source.kind), ("source_path", item.path),
                                                      ("web_url", item.web_url), ("item_id", item.id)) if v})
        had_document = row is not None and (row.state == "indexed" or self.store.get_document(uri) is not None)
        # re-parse when a failed item comes back or a rename kept the bytes (title and path must follow)
        rep = self.ingestor.ingest_raw(raw, force=row is not None and (row.state != "indexed" or row.name != item.name))
        if rep.status in ("indexed", "unchanged"):
            state = "indexed"
            self._count("added" if not had_document else "updated" if rep.status == "indexed" else "unchanged")
        elif rep.status == "no_text":
            state = "no_text"
            self._count("failed")
        else:
            state = "failed"
            self._count("failed")
        self._put(item, uri, ahash, state)
        self._report(rep, item.name)

    def _put(self, item: SourceItem, uri: str, ahash: str, state: str, version: str | None = None) -> None:
        self._touched.add(item.id)
        row = ItemRow(item.id, uri, item.name, item.version if version is None else version, ahash, state, self.epoch)
        self.table.put_item(self.source.id, row)
        self.known[item.id] = row

    def _failed(self, item: SourceItem, uri: str, reason: str, message: str, version: str) -> None:
        self._count("failed")
        # a download failure keeps version "" so the next sync tries again; a stored older version stays
        self._put(item, uri, acl_hash(()), "failed", version=version)
        self._report(FileReport(uri, "failed", reason, message), item.name)

    def _delete(self, item_id: str, uri: str, why: str) -> None:
        removed = self.store.delete_document(uri)
        self.table.delete_item(self.source.id, item_id)
        self.known.pop(item_id, None)
        if removed:
            self._count("deleted")
            self._report(FileReport(uri, "removed", message=why), item_id)

    # groups --------------------------------------------------------------------------------
    def _sync_groups(self) -> None:
        ns = f"ext:{self.connector.namespace}:group:"
        referenced = self.table.acl_principals(self.source.name, ns)
        groups = list(self.connector.groups(referenced))
        self.table.replace_groups(self.source.id, [(g.group, g.members) for g in groups])
        self.table.drop_groups_except(self.source.id, [g.group for g in groups])


def next_run(schedule_minutes: int, enabled: bool) -> str | None:
    if not enabled or schedule_minutes <= 0:
        return None
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=schedule_minutes)).isoformat()
