"""Google Drive connector: shared drives and users' My Drive, followed through ``changes.list``.

Allow-list (nothing else is listed, downloaded or indexed): ``shared_drives`` (read as the impersonated
``subject``, who must be a member), ``my_drive_users`` (the files each one owns, read as that user),
and optionally ``folders``: then only their descendants are synced and drives without an allowed
folder are not read at all; a folder outside the configured drives is a ``not_found`` error.

Endpoints (Drive v3 under ``drive_url``, ``supportsAllDrives=true`` wherever documented; shared drives
with ``driveId`` + ``includeItemsFromAllDrives=true``): ``changes/startPageToken``, ``changes``,
``files`` (list, get, ``alt=media``), ``files/{id}/export``, ``files/{id}/permissions``, ``drives/{id}``,
``about``; the Directory API and the OAuth token endpoint are in ``gdrive_permissions``/``gdrive_auth``.

Sync (``PollsChanges``): ``changes(None)`` first takes ``getStartPageToken`` of every drive, then
enumerates with ``files.list`` (``trashed=false``; ``'me' in owners`` for a My Drive; with ``folders``,
``'<folder>' in parents`` breadth first), one page per ``ChangePage(full=True)``, then follows
``changes.list`` from the remembered tokens, drive after drive, to ``newStartPageToken``. Removed,
trashed and out-of-scope files become ``Change(id, None)``. With ``folders`` the cursor keeps the
in-scope folder ids: a folder moved in (or created) has its subtree listed and added, one moved out
has it listed and removed. Each sync reads every shared drive's members; when they changed (that makes
no file change) the drive is listed again so every item's ACL is refreshed. An unknown or expired
page token (``400`` on ``pageToken``, ``404``, ``410``) or a changed allow-list → ``ResyncRequired``.

Cursor (JSON): ``{"v": 1, "cfg": <allow-list hash>, "phase": "list"|"changes", "order": [unit...],
"i": <unit index>, "step": "acl"|"relist"|"changes", "units": {unit: {"tok", "acl"}}, "roots",
"scope": [folder ids], "walk": {"q": [folders to list], "f": <folder or "*">, "p": <page token>}}``;
a unit is ``d:<drive id>`` or ``u:<email>``.

``GetsItem`` (the runner retries a failed download with it; the feed won't report an unchanged file
again): ``files.get`` as the subject (with shared drives), then each My Drive user, until one sees the
file; None when none does (``404``), or it is trashed, of a type not synced, or out of scope by the
rule the feed applies (the feed's in-scope folders; without a feed state yet, its parent folders are
followed up to an allowed one). ``ListsIds`` (the runner's prune): the full enumeration's walk, same
queries and rules, with ``fields`` limited to what the scope rules read.

Items (built in ``gdrive_items``): id = Drive file id (kept across renames and moves). Google
Docs/Sheets/Slides are exported to DOCX/XLSX/PPTX (``export_format``, name + extension, version =
``modifiedTime`` else ``version``); other Google types (folders, forms, shortcuts, drawings, sites) are skipped; other files are
downloaded with ``alt=media`` (version = ``md5Checksum`` else ``version``). Exports over Drive's
10 MB limit (``403 exportSizeLimitExceeded``) and downloads over ``ctx.max_bytes`` are
``ItemError("file_too_large")``. Principals: see ``gdrive_permissions``.

Not supported: following shortcuts; files shared with a My Drive user but owned by someone else
(sync the owner); a file moved from a shared drive into another user's My Drive while both are
configured may need a later change to reappear; Forms/Drawings/Sites content; revisions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from pydantic import BaseModel

from .base import Change, ChangePage, ConnectorContext, GroupMembers, ItemError, ResyncRequired, SourceError, SourceItem
from .gdrive_auth import RATE_LIMIT_REASONS, GoogleApi, GoogleDriveSettings, error_reasons
from .gdrive_items import EXPORT_MIME, FILE_FIELDS, FOLDER, SCOPE_FIELDS, owners, quoted, source_item, syncable
from .gdrive_permissions import GroupExpander, drive_acl_hash, list_permissions, principals_for

log = logging.getLogger(__name__)


class GoogleDriveConnector:
    kind: ClassVar[str] = "gdrive"
    namespace: ClassVar[str] = "gdrive"
    config_model: ClassVar[type[BaseModel]] = GoogleDriveSettings

    def __init__(self, settings: GoogleDriveSettings, ctx: ConnectorContext) -> None:
        self.settings = settings
        self.ctx = ctx
        self.api = GoogleApi(ctx, settings.service_account_key)
        self.units = [f"d:{d}" for d in settings.shared_drives] + [f"u:{u}" for u in settings.my_drive_users]
        self.cfg = hashlib.sha256(json.dumps([settings.shared_drives, settings.my_drive_users, settings.folders,
                                              settings.anyone_with_link_public]).encode()).hexdigest()[:16]
        self._who: dict[str, str] = {}  # item id -> the user to impersonate for fetch/permissions
        self._scope: set[str] = set()  # with ``folders``: the in-scope folder ids, as the change feed knows them
        self._roots: set[str] = set()
        self._scope_known = False  # _scope was set by changes() (a full enumeration or a cursor)

    # plumbing --------------------------------------------------------------------------------
    def _subject(self, unit: str) -> str:
        return self.settings.subject if unit.startswith("d:") else unit[2:]

    def _url(self, path: str) -> str:
        return f"{self.settings.drive_url}/drive/v3/{path}"

    def _get(self, path: str, subject: str, params: dict[str, Any], *, what: str, token_param: str = "",
             all_drives: bool = True) -> dict:
        body = self._get_or_none(path, subject, params, what=what, token_param=token_param, all_drives=all_drives,
                                 missing_ok=False)
        assert body is not None
        return body

    def _get_or_none(self, path: str, subject: str, params: dict[str, Any], *, what: str, token_param: str = "",
                     all_drives: bool = True, missing_ok: bool = True, item: bool = False) -> dict | None:
        """The JSON body; None for a 404 when ``missing_ok``; other failures raise as documented (with ``item``, a
        failure that is neither auth nor throttling concerns that one item: ``ItemError``)."""
        params = {"supportsAllDrives": "true", **params} if all_drives else params
        resp = self.api.request("GET", self._url(path), subject=subject, params=params)
        if resp.status_code == 200:
            return dict(resp.json())
        if resp.status_code == 404 and missing_ok:
            return None
        message, _, tags = error_reasons(resp)
        if token_param and (resp.status_code in (404, 410) or (resp.status_code == 400 and token_param in tags)):
            raise ResyncRequired(f"{what}: page token no longer valid (HTTP {resp.status_code})")
        if resp.status_code == 403 and tags & RATE_LIMIT_REASONS:
            raise SourceError("throttled", f"{what}: Google keeps answering 403 {message}; try again later")
        if resp.status_code in (401, 403):
            raise SourceError("auth_failed", f"{what} as {subject}: HTTP {resp.status_code} {message}".strip())
        if resp.status_code == 404:
            raise SourceError("not_found", f"{what}: not found or {subject} has no access ({message})")
        if item and resp.status_code in (429, 503):  # the source, not this item
            raise SourceError("throttled", f"{what}: still throttled after retries (HTTP {resp.status_code}); try again later")
        raise (ItemError if item else SourceError)("http_error", f"{what}: HTTP {resp.status_code} {message}".strip())

    def _file(self, file_id: str, subject: str, fields: str = FILE_FIELDS) -> dict | None:
        resp = self.api.request("GET", self._url(f"files/{urllib.parse.quote(file_id, safe='')}"), subject=subject,
                                params={"supportsAllDrives": "true", "fields": fields})
        return dict(resp.json()) if resp.status_code == 200 else None

    def close(self) -> None:
        self._who.clear()
        self.ctx.http.close()

    def check(self) -> str:
        self.api.token(self.settings.subject)
        names = []
        for drive in self.settings.shared_drives:
            body = self._get(f"drives/{urllib.parse.quote(drive, safe='')}", self.settings.subject, {"fields": "id,name"},
                             what=f"shared drive {drive}", all_drives=False)
            names.append(str(body.get("name") or drive))
        for user in self.settings.my_drive_users:
            self._get("about", user, {"fields": "user(emailAddress)"}, what=f"My Drive of {user}", all_drives=False)
        roots = self._resolve_roots()
        out = f"{len(names)} shared drive(s) ({', '.join(names) or '-'}), {len(self.settings.my_drive_users)} My Drive(s)"
        return out + (f", {sum(map(len, roots.values()))} folder(s)" if self.settings.folders else "")

    # scope ------------------------------------------------------------------------------------
    def _resolve_roots(self) -> dict[str, list[str]]:
        """Which configured drive each allowed folder lives in (a folder outside them is an error)."""
        roots: dict[str, list[str]] = {}
        for folder in self.settings.folders:
            unit = None
            for who in [self.settings.subject, *self.settings.my_drive_users]:
                meta = self._file(folder, who, "id,mimeType,driveId,owners(emailAddress),trashed")
                if meta is None or meta.get("mimeType") != FOLDER:
                    continue
                if meta.get("driveId"):
                    unit = f"d:{meta['driveId']}" if meta["driveId"] in self.settings.shared_drives else None
                else:
                    unit = next((f"u:{u}" for u in self.settings.my_drive_users if u in owners(meta)), None)
                break
            if unit is None:
                raise SourceError("not_found", f"folder {folder} is not a folder of a configured shared drive or My Drive")
            roots.setdefault(unit, []).append(folder)
        return roots

    def _in_scope(self, f: dict, scope: set[str] | None = None) -> bool:
        """The allow-list rule every path applies (listing, change feed, ``item``, ``list_ids``); ``scope`` is the
        set of in-scope folders (``self._scope`` unless a listing keeps its own)."""
        if f.get("trashed"):
            return False
        if self.settings.folders:
            return any(p in (self._scope if scope is None else scope) for p in f.get("parents") or [])
        if f.get("driveId"):
            return f["driveId"] in self.settings.shared_drives
        return bool(owners(f) & set(self.settings.my_drive_users))

    def _item(self, f: dict, unit: str) -> SourceItem | None:
        if not f.get("id") or not self._in_scope(f):
            return None
        item = source_item(f, anyone_public=self.settings.anyone_with_link_public)
        if item is not None:
            self._who[item.id] = self._subject(unit)
        return item

    # listing ----------------------------------------------------------------------------------
    def _files_page(self, unit: str, query: str, token: str | None, fields: str = FILE_FIELDS) -> dict:
        params: dict[str, Any] = {"q": query, "pageSize": self.settings.page_size, "fields": f"nextPageToken,files({fields})"}
        if unit.startswith("d:"):
            params.update(corpora="drive", driveId=unit[2:], includeItemsFromAllDrives="true")
        else:
            params["corpora"] = "user"
        if token:
            params["pageToken"] = token
        return self._get("files", self._subject(unit), params, what=f"files of {unit}", token_param="pageToken")

    def _new_walk(self, unit: str, roots: dict[str, list[str]]) -> dict:
        if self.settings.folders:
            return {"q": list(roots.get(unit, [])), "f": None, "p": None}
        return {"q": [], "f": "*", "p": None}

    def _walk_files(self, unit: str, walk: dict, scope: set[str], fields: str) -> tuple[list[dict], bool]:
        """List one files.list page of ``walk`` (folders found join ``scope`` and the walk); (the files of the
        page that are in scope, whether the walk is finished)."""
        if walk["f"] is None:
            if not walk["q"]:
                return [], True
            walk["f"], walk["p"] = walk["q"].pop(0), None
        if walk["f"] == "*":
            query = "trashed=false" if unit.startswith("d:") else "'me' in owners and trashed=false"
        else:
            query = f"{quoted(walk['f'])} in parents and trashed=false"
        body = self._files_page(unit, query, walk["p"], fields)
        out: list[dict] = []
        for f in body.get("files") or []:
            if self.settings.folders and f.get("mimeType") == FOLDER and not f.get("trashed"):
                scope.add(f["id"])  # Drive forbids cycles: a folder is reached once per parent
                walk["q"].append(f["id"])
                continue
            if f.get("id") and self._in_scope(f, scope):
                out.append(f)
        walk["p"] = body.get("nextPageToken")
        if not walk["p"]:
            walk["f"] = None
        return out, walk["f"] is None and not walk["q"]

    def _walk_once(self, unit: str, walk: dict) -> tuple[list[Change], bool]:
        """List one files.list page of ``walk``; (changes, whether the walk is finished)."""
        files, done = self._walk_files(unit, walk, self._scope, FILE_FIELDS)
        return [Change(item.id, item) for f in files if (item := self._item(f, unit)) is not None], done

    def _subtree(self, folder: str, unit: str, add: bool) -> list[Change]:
        """Every descendant of ``folder`` as items (moved in) or deletions (moved out); updates the scope."""
        out: list[Change] = []
        queue, visited = [folder], {folder}
        while queue:
            current = queue.pop(0)
            token: str | None = None
            while True:
                query = f"{quoted(current)} in parents" + (" and trashed=false" if add else "")
                try:
                    body = self._files_page(unit, query, token)
                except (SourceError, ResyncRequired) as exc:  # the folder is gone: its children report themselves
                    log.info("listing folder %s: %s", current, exc)
                    break
                for f in body.get("files") or []:
                    if f.get("mimeType") == FOLDER:
                        (self._scope.add if add and not f.get("trashed") else self._scope.discard)(f["id"])
                        if f["id"] not in visited:
                            visited.add(f["id"])
                            queue.append(f["id"])
                        continue
                    item = self._item(f, unit) if add else None
                    out.append(Change(f["id"], item))
                token = body.get("nextPageToken")
                if not token:
                    break
        return out

    # changes ----------------------------------------------------------------------------------
    def _drive_acl(self, unit: str) -> str:
        return drive_acl_hash(self.api, self.settings.drive_url, unit[2:], self.settings.subject,
                              anyone_public=self.settings.anyone_with_link_public)

    def _begin(self) -> dict:
        units: dict[str, dict[str, str]] = {}
        roots = self._resolve_roots() if self.settings.folders else {}
        order = [u for u in self.units if not self.settings.folders or roots.get(u)]
        for unit in order:  # the start tokens first: nothing changed during the listing is missed
            params = {"driveId": unit[2:]} if unit.startswith("d:") else {}
            body = self._get("changes/startPageToken", self._subject(unit), params, what=f"start page token of {unit}")
            units[unit] = {"tok": str(body["startPageToken"]),
                           "acl": self._drive_acl(unit) if unit.startswith("d:") else ""}
        self._roots = {f for fs in roots.values() for f in fs}
        self._scope = set(self._roots)
        self._scope_known = True
        return {"v": 1, "cfg": self.cfg, "phase": "list", "order": order, "i": 0, "step": "acl", "units": units,
                "roots": roots, "walk": self._new_walk(order[0], roots) if order else None}

    def _dump(self, state: dict) -> str:
        state["scope"] = sorted(self._scope) if self.settings.folders else []
        return json.dumps(state, separators=(",", ":"))

    def _load(self, cursor: str) -> dict:
        try:
            state = json.loads(cursor)
            ok = isinstance(state, dict) and state.get("v") == 1 and state.get("cfg") == self.cfg
        except ValueError:
            ok = False
        if not ok:
            raise ResyncRequired("cursor from another version or allow-list")
        self._roots = {f for fs in state.get("roots", {}).values() for f in fs}
        self._scope = set(state.get("scope") or [])
        self._scope_known = True
        return dict(state)

    def changes(self, cursor: str | None) -> ChangePage:
        state = self._begin() if cursor is None else self._load(cursor)
        if not state["order"]:
            return ChangePage([], self._dump(state), more=False, full=state["phase"] == "list")
        if state["phase"] == "list":
            unit = state["order"][state["i"]]
            out, done = self._walk_once(unit, state["walk"])
            if done:
                state["i"] += 1
                if state["i"] < len(state["order"]):
                    state["walk"] = self._new_walk(state["order"][state["i"]], state["roots"])
                else:
                    state.update(phase="changes", i=0, step="acl", walk=None)
            return ChangePage(out, self._dump(state), more=True, full=True)
        return self._changes_step(state)

    def _changes_step(self, state: dict) -> ChangePage:
        unit = state["order"][state["i"]]
        if state["step"] == "acl":
            state["step"] = "changes"
            if unit.startswith("d:"):
                acl = self._drive_acl(unit)
                if acl != state["units"][unit]["acl"]:
                    log.info("members of %s changed: listing it again to refresh permissions", unit)
                    state["units"][unit]["acl"] = acl
                    state.update(step="relist", walk=self._new_walk(unit, state["roots"]))
                    return ChangePage([], self._dump(state), more=True)
        if state["step"] == "relist":
            listed, done = self._walk_once(unit, state["walk"])
            if done:
                state.update(step="changes", walk=None)
            return ChangePage(listed, self._dump(state), more=True)
        params: dict[str, Any] = {"pageToken": state["units"][unit]["tok"], "pageSize": self.settings.page_size,
                                  "fields": f"nextPageToken,newStartPageToken,changes(changeType,removed,fileId,"
                                            f"file({FILE_FIELDS}))"}
        if unit.startswith("d:"):
            params.update(driveId=unit[2:], includeItemsFromAllDrives="true")
        body = self._get("changes", self._subject(unit), params, what=f"changes of {unit}", token_param="pageToken")
        out: list[Change] = []
        for ch in body.get("changes") or []:
            out.extend(self._map_change(ch, unit))
        if body.get("nextPageToken"):
            state["units"][unit]["tok"] = str(body["nextPageToken"])
            return ChangePage(out, self._dump(state), more=True)
        state["units"][unit]["tok"] = str(body.get("newStartPageToken") or state["units"][unit]["tok"])
        state.update(i=state["i"] + 1, step="acl")
        if state["i"] >= len(state["order"]):
            state["i"] = 0
            return ChangePage(out, self._dump(state), more=False)
        return ChangePage(out, self._dump(state), more=True)

    def _map_change(self, ch: dict, unit: str) -> list[Change]:
        if ch.get("changeType") == "drive":
            return []
        f = ch.get("file") if isinstance(ch.get("file"), dict) else None
        fid = str(ch.get("fileId") or (f or {}).get("id") or "")
        if not fid:
            return []
        if ch.get("removed") or f is None:
            # gone from this drive; it may have moved to another configured one (re-read it there)
            f = self._file(fid, self.settings.subject) if len(self.units) > 1 else None
            if f is None:
                if fid in self._scope:
                    self._scope.discard(fid)
                    return self._subtree(fid, unit, add=False)
                return [Change(fid, None)]
        if f.get("mimeType") == FOLDER:
            if not self.settings.folders:
                return []
            now_in = not f.get("trashed") and (fid in self._roots or any(p in self._scope for p in f.get("parents") or []))
            if now_in and fid not in self._scope:
                self._scope.add(fid)
                return self._subtree(fid, unit, add=True)
            if not now_in and fid in self._scope:
                self._scope.discard(fid)
                return self._subtree(fid, unit, add=False)
            return []
        item = self._item(f, unit)
        return [Change(fid, item)]

    # one item, every id (GetsItem, ListsIds) ---------------------------------------------------
    def item(self, item_id: str) -> SourceItem | None:
        """The item the listing would give for ``item_id`` now; None when it is gone, trashed, of a type not
        synced or outside the allow-list. ``files.get`` as the subject (with shared drives) then each My Drive
        user until one sees it, then again as the user the listing reads it as when that is someone else."""
        path = f"files/{urllib.parse.quote(item_id, safe='')}"
        first = [self.settings.subject] if self.settings.shared_drives else []
        for reader in dict.fromkeys([*first, *self.settings.my_drive_users]):
            f = self._get_or_none(path, reader, {"fields": FILE_FIELDS}, what=f"file {item_id}", item=True)
            if f is None:
                continue
            if not syncable(f) or f.get("trashed"):
                return None
            if self.settings.folders and not self._scope_known:
                self._learn_scope(f, reader)
            if not self._in_scope(f):
                return None
            drive_user = next((u for u in self.settings.my_drive_users if u in owners(f)), reader)
            unit = f"d:{f['driveId']}" if f.get("driveId") else f"u:{drive_user}"
            if self._subject(unit) != reader:  # the owner sees the permissions the listing carries
                f = self._get_or_none(path, self._subject(unit), {"fields": FILE_FIELDS}, what=f"file {item_id}", item=True) or f
            return self._item(f, unit)
        return None

    def _learn_scope(self, f: dict, subject: str) -> None:
        """Without a change-feed state (no ``changes`` call yet), add ``f``'s folders to the scope when they lead up
        to an allowed folder, untrashed (the rule the listing applies going down). Drive gives a file one parent."""
        if not self._roots:
            self._roots = {x for xs in self._resolve_roots().values() for x in xs}
        chain: list[str] = []
        parents = list(f.get("parents") or [])
        while parents and parents[0] not in chain:
            folder = parents[0]
            if folder in self._roots or folder in self._scope:
                self._scope.update([folder, *chain])
                return
            meta = self._get_or_none(f"files/{urllib.parse.quote(folder, safe='')}", subject,
                                     {"fields": "id,mimeType,parents,trashed"}, what=f"folder {folder}", item=True)
            if meta is None or meta.get("mimeType") != FOLDER or meta.get("trashed"):
                return
            chain.append(folder)
            parents = list(meta.get("parents") or [])

    def list_ids(self) -> Iterator[str]:
        """Every file id in scope now: the full enumeration's walk (same queries, same rules), metadata only. A
        page token that expires meanwhile restarts that drive's walk (ids seen twice are harmless)."""
        roots = self._resolve_roots() if self.settings.folders else {}
        scope = {x for xs in roots.values() for x in xs}
        for unit in [u for u in self.units if not self.settings.folders or roots.get(u)]:
            for attempt in range(3):
                walk, done = self._new_walk(unit, roots), False
                try:
                    while not done:
                        files, done = self._walk_files(unit, walk, scope, SCOPE_FIELDS)
                        yield from (f["id"] for f in files if syncable(f))
                    break
                except ResyncRequired as exc:
                    if attempt == 2:
                        raise SourceError("http_error", f"listing every file of {unit}: {exc}") from None
                    log.info("listing every file of %s: %s; starting again", unit, exc)

    # content, permissions, groups --------------------------------------------------------------
    def fetch(self, item: SourceItem) -> bytes:
        subject = self._who.get(item.id, self.settings.subject)
        fid = urllib.parse.quote(item.id, safe="")
        if item.export_format:
            resp = self.api.request("GET", self._url(f"files/{fid}/export"), subject=subject,
                                    params={"mimeType": EXPORT_MIME[item.export_format]})
        else:
            resp = self.api.request("GET", self._url(f"files/{fid}"), subject=subject,
                                    params={"alt": "media", "supportsAllDrives": "true"})
        if resp.status_code != 200:
            message, _, tags = error_reasons(resp)
            if "exportSizeLimitExceeded" in tags:
                raise ItemError("file_too_large", f"{item.name}: Google Drive exports documents of at most 10 MB")
            reason = {404: "not_found", 403: "forbidden", 401: "forbidden"}.get(resp.status_code, "http_error")
            raise ItemError(reason, f"{item.name}: download refused, HTTP {resp.status_code} {message}".strip())
        data = resp.content
        if len(data) > self.ctx.max_bytes:
            raise ItemError("file_too_large", f"{item.name} is {len(data) / 1e6:.1f} MB, over the limit of "
                            f"{self.ctx.max_bytes / 1e6:.1f} MB")
        return data

    def permissions(self, item: SourceItem) -> tuple[str, ...]:
        subject = self._who.get(item.id, self.settings.subject)
        try:
            perms = list_permissions(self.api, self.settings.drive_url, item.id, subject, page_size=self.settings.page_size)
        except ItemError as exc:
            if exc.reason != "forbidden":
                raise
            log.warning("cannot read the permissions of %s: it is indexed invisible", item.name)
            return ()
        return principals_for(perms, anyone_public=self.settings.anyone_with_link_public)

    def groups(self, referenced: Iterable[str]) -> Iterator[GroupMembers]:
        return GroupExpander(self.api, self.settings.directory_url, self.settings.subject).groups(referenced)
