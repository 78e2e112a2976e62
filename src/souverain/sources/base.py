"""Source connectors: the shared types and the small capability protocols a connector implements.

A connector is one module with one class; the registry (``registry.py``) names it in one line. The
sync runner (``runner.py``) asks which protocols a connector implements and drives it accordingly:

- ``PollsChanges`` (Microsoft Graph ``delta``, Google Drive ``changes.list``): ``changes(None)``
  starts a *full enumeration*; every ``ChangePage`` carries the cursor to resume from once that page
  is applied, and ``more`` says whether to call again now. Pages of a full enumeration have
  ``full=True``: at its end the runner removes every stored item the enumeration did not mention.
  A cursor the source no longer accepts raises ``ResyncRequired``; the runner restarts with
  ``changes(None)`` as a full enumeration, so deletions missed meanwhile are still applied.
- ``LoadsAll`` (WebDAV, S3, local folders): ``list_page(token)`` returns one page of item metadata
  and the token of the next page. Every sync is a full pass: changed items are fetched, unchanged
  ones only compared (version + permissions), and items not listed are removed at the end.
- ``FetchesContent``: the bytes of one item (never called for an unchanged item).
- ``ReadsPermissions``: the principals of one item when the listing did not carry them
  (``SourceItem.principals is None``).
- ``ListsIds``: every item id in scope, cheaply, to prune deletions a change feed missed.
- ``GetsItem``: one item's current metadata, so a change-feed sync can retry an item whose download
  failed last time (the feed does not mention an unchanged item again).
- ``SyncsGroups``: the members of the source's groups, so that ``ext:<namespace>:group:<id>``
  principals on documents reach the users linked to ``ext:<namespace>:<user id>``.

Crash safety lives in the runner, not in connectors: a cursor or token is persisted only after its
page is applied, and applying a page twice is harmless (an item whose version and permissions match
what is stored is skipped). So a connector only has to make its cursors resumable.

Principals: a connector maps the source's permissions to ``ext:<namespace>:<id>`` principals
(``namespace`` is per connector kind, e.g. ``m365``, so two SharePoint sites share one namespace),
``public`` for sources configured as public or anonymous links, and nothing else. An item whose
permissions cannot be read gets an empty ACL (invisible), never ``public``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from .http import HttpClient
from .secrets import SecretResolver


class SourceError(Exception):
    """A sync-level failure with a short reason code (``auth_failed``, ``not_found``, ``unreachable``...).

    Raised for the whole source (bad credentials, a configured site that does not exist); a failure
    of one item is raised as ``ItemError`` instead and only that item fails.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ItemError(SourceError):
    """One item failed (download refused, gone meanwhile...); the rest of the sync carries on."""


class ResyncRequired(Exception):
    """The stored cursor is no longer accepted (Graph ``410 Gone``/``resyncRequired``, an expired page token)."""


@dataclass(frozen=True)
class SourceItem:
    """Metadata of one document in a source; enough to decide whether it must be fetched again."""

    id: str  # stable inside the source; survives renames and moves where the source has ids
    name: str  # file name with extension (parsers look at the extension)
    path: str = ""  # human path inside the source ("Shared Documents/HR/policy.docx")
    version: str = ""  # changes whenever the content changes (eTag/cTag, md5, ETag, mtime+size)
    size: int | None = None
    modified_at: dt.datetime | None = None
    mime_type: str = ""
    web_url: str = ""  # where a user opens the original
    principals: tuple[str, ...] | None = None  # None: ask ReadsPermissions.permissions(item)
    export_format: str = ""  # e.g. "docx" for a Google Doc exported on fetch (a hint for the parser)


@dataclass(frozen=True)
class Change:
    item_id: str
    item: SourceItem | None  # None: deleted, or moved out of the allow-listed scope


@dataclass(frozen=True)
class ChangePage:
    changes: list[Change]
    cursor: str  # resume from here once this page is applied
    more: bool  # True: call again at once with ``cursor``; False: caught up
    full: bool = False  # part of a full enumeration (initial sync or resync)


@dataclass(frozen=True)
class ListPage:
    items: list[SourceItem]
    next_token: str | None  # None: this was the last page


@dataclass(frozen=True)
class GroupMembers:
    group: str  # the group's principal, e.g. "ext:m365:group:<object id>"
    members: tuple[str, ...]  # member principals (users, and nested groups when not expanded)


@dataclass
class ConnectorContext:
    """What the runner hands a connector: a retrying HTTP client, secret resolution, limits."""

    http: HttpClient
    secrets: SecretResolver
    max_bytes: int = 100 * 1024 * 1024
    extra: dict[str, Any] = field(default_factory=dict)


class Connector(Protocol):
    kind: ClassVar[str]  # registry key: "m365", "gdrive", "webdav", "s3", "local"
    namespace: ClassVar[str]  # principal namespace: ext:<namespace>:...
    config_model: ClassVar[type[BaseModel]]  # validated settings (secrets as SecretRef strings)

    def check(self) -> str:
        """Reach the source with the configured credentials; a one-line description, or SourceError."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class PollsChanges(Protocol):
    def changes(self, cursor: str | None) -> ChangePage: ...


@runtime_checkable
class LoadsAll(Protocol):
    def list_page(self, token: str | None) -> ListPage: ...


@runtime_checkable
class FetchesContent(Protocol):
    def fetch(self, item: SourceItem) -> bytes:
        """The item's bytes (at most ``ctx.max_bytes``; larger raises ItemError('file_too_large'))."""
        ...


@runtime_checkable
class ReadsPermissions(Protocol):
    def permissions(self, item: SourceItem) -> tuple[str, ...]: ...


@runtime_checkable
class ListsIds(Protocol):
    def list_ids(self) -> Iterator[str]: ...


@runtime_checkable
class GetsItem(Protocol):
    def item(self, item_id: str) -> SourceItem | None:
        """Current metadata of one item, or None when it is gone or out of scope. Change-feed sources use
        it to retry a failed download at the next sync (the feed won't report an unchanged item again)."""
        ...


@runtime_checkable
class SyncsGroups(Protocol):
    def groups(self, referenced: Iterable[str]) -> Iterator[GroupMembers]:
        """Members of the groups named by ``referenced`` principals (those of this namespace)."""
        ...
