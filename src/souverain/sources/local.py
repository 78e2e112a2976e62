"""Local (or mounted network) folders as a source: scheduled scans plus an optional watch mode.

- ``list_page`` walks the folder breadth-first, one directory per page; the token is the JSON list
  of directories still to read, so a crash resumes without re-reading what was done. Hidden files
  and folders and Office lock files (``~$…``) are skipped, symbolic links are not followed (a link
  could point outside the allow-listed folder).
- Item id = the path relative to the folder (POSIX separators); version = modification time in
  nanoseconds + size, so a re-sync of unchanged files reads metadata only. A moved file is a
  deletion plus an addition.
- Permissions come from the configured ``acl`` rules (sources/acl.py): longest matching path prefix
  wins; a path no rule covers is indexed but invisible.
- Watch mode (``watch_sources``) uses watchfiles (inotify on Linux): any change in a watched folder
  yields the source's name after a short debounce, and the manager submits a sync.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .acl import check_rules, principals_for_path
from .base import ConnectorContext, ItemError, ListPage, SourceError, SourceItem


class LocalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="absolute path of the folder to sync (sub-folders included)")
    acl: dict[str, list[str]] = Field(
        description="path prefix -> principals, e.g. {\"\": [\"public\"], \"hr/\": [\"group:2\"]}; "
                    "the longest matching prefix wins; files no rule covers are invisible")

    @field_validator("path")
    @classmethod
    def _absolute(cls, v: str) -> str:
        p = Path(v).expanduser()
        if not p.is_absolute():
            raise ValueError("the folder must be an absolute path")
        return str(p)

    @field_validator("acl")
    @classmethod
    def _rules(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        if not v:
            raise ValueError("give at least one rule, e.g. {\"\": [\"public\"]}: files without permissions are invisible")
        return check_rules(v)


def _skip(name: str) -> bool:
    return name.startswith((".", "~$"))


class LocalFolderConnector:
    kind: ClassVar[str] = "local"
    namespace: ClassVar[str] = "local"
    config_model: ClassVar[type[BaseModel]] = LocalSettings

    def __init__(self, settings: LocalSettings, ctx: ConnectorContext) -> None:
        self.settings = settings
        self.ctx = ctx
        self.root = Path(settings.path)

    def check(self) -> str:
        if not self.root.is_dir():
            raise SourceError("not_found", f"{self.root} is not a folder")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise SourceError("auth_failed", f"{self.root} is not readable by this process")
        return f"folder {self.root}"

    def close(self) -> None:
        self.ctx.http.close()

    def list_page(self, token: str | None) -> ListPage:
        queue: list[str] = json.loads(token) if token else [""]
        if token is None:
            self.check()
        if not queue:
            return ListPage([], None)
        rel = queue.pop(0)
        folder = self.root / rel
        items: list[SourceItem] = []
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            entries = []  # removed while listing: its files are swept at the end of the pass
        except PermissionError as exc:
            if not rel:
                raise SourceError("auth_failed", f"cannot read {folder}: {exc.strerror}") from None
            entries = []
        subdirs = []
        for entry in entries:
            if _skip(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            path = f"{rel}/{entry.name}" if rel else entry.name
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(path)
            elif stat.S_ISREG(st.st_mode):
                items.append(SourceItem(
                    id=path, name=entry.name, path=path, version=f"{st.st_mtime_ns}-{st.st_size}", size=st.st_size,
                    modified_at=dt.datetime.fromtimestamp(st.st_mtime, dt.UTC),
                    principals=principals_for_path(self.settings.acl, path)))
        queue.extend(subdirs)
        return ListPage(items, json.dumps(queue) if queue else None)

    def fetch(self, item: SourceItem) -> bytes:
        path = self.root / item.id
        try:
            resolved = path.resolve(strict=True)
            if not resolved.is_relative_to(self.root.resolve()):
                raise ItemError("outside_scope", f"{item.id} resolves outside the synced folder")
            size = resolved.stat().st_size
            if size > self.ctx.max_bytes:
                raise ItemError("file_too_large", f"file is {size / 1e6:.1f} MB, over the limit of "
                                f"{self.ctx.max_bytes / 1e6:.1f} MB")
            return resolved.read_bytes()
        except FileNotFoundError:
            raise ItemError("gone", f"{item.id} disappeared before it could be read") from None
        except OSError as exc:
            raise ItemError("unreadable", f"cannot read {item.id}: {exc.strerror or exc}") from None


def watch_sources(rows: Iterable[Any], stop: Callable[[], bool], debounce_ms: int = 800) -> Iterator[str]:
    """Yield a source name each time files change under its folder, until ``stop()`` is true."""
    import watchfiles

    folders = {}
    for row in rows:
        path = Path(row.settings["path"])
        if path.is_dir():
            folders[str(path.resolve())] = row.name
    if not folders:
        return
    for changes in watchfiles.watch(*folders, debounce=debounce_ms, rust_timeout=1000, yield_on_timeout=True,
                                    stop_event=_StopFlag(stop), recursive=True, raise_interrupt=False):
        if stop():
            return
        names = set()
        for _, changed in changes:
            for folder, name in folders.items():
                if changed == folder or changed.startswith(folder + os.sep):
                    names.add(name)
        yield from sorted(names)


class _StopFlag:
    """The ``is_set`` interface watchfiles polls, over any predicate."""

    def __init__(self, predicate: Callable[[], bool]) -> None:
        self.predicate = predicate

    def is_set(self) -> bool:
        return self.predicate()
