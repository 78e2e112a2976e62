"""Microsoft 365: SharePoint Online document libraries and OneDrive for Business, through Microsoft Graph.

Authentication: app-only client credentials (application permissions ``Sites.Read.All`` or
``Files.Read.All``, plus ``GroupMember.Read.All``; Graph wants ``Sites.FullControl.All`` before delta
reports permission-only changes). MSAL for ``https`` authorities; for a plain-``http`` loopback
authority (the test double) the documented token POST is sent directly, because MSAL refuses
non-https authorities (details in ``m365_permissions.py``). A ``401`` from Graph renews the token once.

Endpoints (``graph_url`` + path): ``GET /sites/{hostname}:/{path}`` for each allow-listed site,
``GET /sites/{site-id}/drives`` (its document libraries, filtered by ``libraries``),
``GET /users/{upn}/drive`` for ``onedrive_users``, ``GET /drives/{id}/root/delta`` (then the
``@odata.nextLink`` / ``@odata.deltaLink`` URLs as given), ``GET /drives/{d}/items/{i}`` (one item, to
retry a failed download; ``m365_items.py``), ``GET /drives/{d}/items/{i}/content``
(a ``302`` to a pre-authenticated URL, downloaded *without* the Authorization header, streamed and
cut at ``ctx.max_bytes``), ``GET /drives/{d}/items/{i}/permissions`` (paged) and
``GET /groups/{id}/transitiveMembers`` (paged; users only). Delta requests send
``Prefer: deltashowremovedasdeleted, deltatraversepermissiongaps, deltashowsharingchanges`` so that
sharing changes bring an item back into the feed. 429/503 are retried by ``ctx.http``
(``Retry-After``); if throttling outlasts the retries the sync fails with ``throttled``.

Item ids: ``{drive-id}/{item-id}`` (Graph ids; a rename or a move inside a drive is an update).
``version`` = ``cTag`` (content tag), else a content hash from ``file.hashes``, else ``eTag``.

Cursor (JSON): ``{"v": 1, "fp": <hash of the drive ids and folders>, "full": <in a full pass>,
"i": <index of the drive being read>, "active": <a round is under way>, "links": {drive-id:
nextLink or deltaLink}, "tree": {drive-id: {folder-id: [name, parent-id]}}, "roots": {drive-id:
root-id}, "full_at": <when the last full pass started>}``. One page = one Graph delta page of one
drive; drives are read in turn. A full pass (``full: true`` pages) is followed in the same sync by
one round of the changes made during it, so a sync always ends caught up. ``tree`` is kept only
when ``folders`` is set: SharePoint delta omits ``parentReference.path``, so an item's path is
rebuilt from folder ids.

Scope: only the configured sites' libraries and users' OneDrives are read; inside a drive only
files under ``folders`` (when set). Delta can only be asked for a drive's root in SharePoint, so
metadata of the rest of the drive passes through memory, but nothing outside is downloaded, asked
for permissions, or stored. A file moved out is a deletion. A folder moved or renamed across a
``folders`` boundary (delta does not list its descendants) forces a full resync, and so does a
changed allow-list. ``410 Gone`` or the ``resyncRequired`` / ``resyncChangesApplyDifferences`` /
``resyncChangesUploadDifferences`` codes raise ``ResyncRequired``; a full pass is also forced every
``full_resync_hours`` so that permission changes delta did not report are picked up.

Permissions: see ``m365_permissions.py``. Groups: ``ext:m365:group:<id>`` principals are expanded
with ``transitiveMembers`` (nested groups included by Graph).

``ListsIds`` (the runner's occasional prune): a fresh delta enumeration of every drive, metadata only.

``GetsItem`` (the runner's retry of a download that failed on an earlier sync, which delta will not
report again while the file is unchanged): ``GET`` of the item, checked against the allow-list
(drive, then ``folders`` through ``parentReference.path``) and built like a delta item; a file gone,
deleted, or now out of scope is None, which the runner forgets.

NOT supported: SharePoint site-group membership (no Graph v1.0 API); lists other than document
libraries, pages, OneNote packages; certificate credentials; files whose parent folder was not
listed before them in a delta full pass when ``folders`` is set (treated as out of scope).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .base import ChangePage, ConnectorContext, GroupMembers, ItemError, ResyncRequired, SourceError, SourceItem
from .m365_items import is_live_file, path_in_drive
from .m365_permissions import AppToken, Scope, delta_changes, download, group_principal, map_permissions, user_members
from .secrets import SecretError, SecretRef

log = logging.getLogger(__name__)

RESYNC_CODES = frozenset({"resyncrequired", "resyncchangesapplydifferences", "resyncchangesuploaddifferences",
                          "syncstatenotfound"})
DELTA_PREFER = "deltashowremovedasdeleted, deltatraversepermissiongaps, deltashowsharingchanges"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _https_or_loopback(value: str) -> str:
    try:
        url = httpx.URL(value.strip().rstrip("/"))
    except Exception:
        raise ValueError("not a URL") from None
    if url.scheme != "https" and not (url.scheme == "http" and url.host in LOOPBACK):
        raise ValueError("must be an https:// URL (plain http is accepted for 127.0.0.1/localhost only)")
    return str(url).rstrip("/")


class M365Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$",
                           description="Directory (tenant) id, a GUID, or the tenant's domain (contoso.onmicrosoft.com)")
    client_id: str = Field(pattern=r"^[A-Za-z0-9-]{1,64}$", description="Application (client) id of the app registration")
    client_secret: SecretRef = Field(description="Reference to the app's client secret: 'env:NAME' or 'file:/path'")
    sites: list[str] = Field(default_factory=list, description="SharePoint sites to sync, as 'hostname:/sites/path' "
                             "(e.g. 'contoso.sharepoint.com:/sites/hr') or the site's https URL")
    libraries: dict[str, list[str]] = Field(default_factory=dict, description="Per site (as written in 'sites'): the "
                                            "document libraries to sync, by name; a site not listed here syncs all")
    onedrive_users: list[str] = Field(default_factory=list, description="Users whose OneDrive is synced, by user "
                                      "principal name (alice@contoso.com)")
    folders: list[str] = Field(default_factory=list, description="Only files under these folders (paths inside each "
                               "library or OneDrive, e.g. 'HR/Policies') are synced; empty: everything")
    authority_url: str = Field(default="https://login.microsoftonline.com", description="Microsoft Entra sign-in host")
    graph_url: str = Field(default="https://graph.microsoft.com/v1.0", description="Microsoft Graph base URL")
    full_resync_hours: int = Field(default=168, ge=0, le=24 * 90, description="Re-enumerate everything (and re-read "
                                   "every item's permissions) after this many hours; 0: only when Graph asks")

    @field_validator("sites")
    @classmethod
    def _sites(cls, value: list[str]) -> list[str]:
        out = []
        for raw in value:
            s = raw.strip()
            if s.startswith("https://"):
                u = urllib.parse.urlsplit(s)
                s = f"{u.hostname}:{urllib.parse.unquote(u.path) or '/'}"
            host, sep, path = s.partition(":")
            if not sep or not host or "/" in host or not path.startswith("/") or ".." in path.split("/"):
                raise ValueError(f"site {raw!r}: expected 'hostname:/sites/path', e.g. 'contoso.sharepoint.com:/sites/hr'")
            out.append(f"{host.lower()}:{path.rstrip('/') or '/'}")
        return out

    @field_validator("folders")
    @classmethod
    def _folders(cls, value: list[str]) -> list[str]:
        out = []
        for raw in value:
            f = raw.strip().strip("/")
            if not f or any(p in ("", ".", "..") for p in f.split("/")):
                raise ValueError(f"folder {raw!r}: expected a path such as 'HR/Policies' (no '..', not empty)")
            out.append(f)
        return out

    @field_validator("authority_url", "graph_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        return _https_or_loopback(value)

    @model_validator(mode="after")
    def _scope(self) -> M365Settings:
        if not self.sites and not self.onedrive_users:
            raise ValueError("nothing to sync: give at least one of 'sites' or 'onedrive_users'")
        libraries = {self._sites([k])[0]: v for k, v in self.libraries.items()}
        if unknown := [k for k in libraries if k not in self.sites]:
            raise ValueError(f"'libraries' names sites that are not in 'sites': {', '.join(unknown)}")
        self.libraries = libraries
        return self


@dataclass(frozen=True)
class Drive:
    id: str
    label: str  # "hr/Documents", "OneDrive alice@contoso.com"
    site_id: str = ""


def _graph_error(resp: httpx.Response) -> tuple[str, str]:
    try:
        err = resp.json().get("error")
    except (ValueError, AttributeError):
        return "", ""
    if isinstance(err, dict):
        return str(err.get("code") or ""), str(err.get("message") or "")[:300]
    return "", ""


class M365Connector:
    kind: ClassVar[str] = "m365"
    namespace: ClassVar[str] = "m365"
    config_model: ClassVar[type[BaseModel]] = M365Settings

    def __init__(self, settings: M365Settings, ctx: ConnectorContext) -> None:
        self.settings = settings
        self.ctx = ctx
        self.graph = settings.graph_url
        self.scope = Scope(settings.folders)
        s = settings
        self._origin = str(httpx.URL(self.graph).copy_with(path="/", query=None))
        self._auth = AppToken(ctx.http, s.authority_url, s.tenant_id, s.client_id, self._secret,
                              f"{self._origin}.default")
        self._drives: list[Drive] | None = None
        self._folder_paths: dict[str, dict[str, str | None]] = {}  # drive id -> folder id -> path (None: gone)

    # -- authentication ---------------------------------------------------------------------------

    def _secret(self) -> str:
        try:
            return self.ctx.secrets.resolve(self.settings.client_secret).get_secret_value()
        except SecretError as exc:
            raise SourceError("missing_credentials", str(exc)) from None

    # -- Graph requests ---------------------------------------------------------------------------

    def _get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        if not url.startswith(self._origin):  # the bearer token goes to Graph and nowhere else
            raise SourceError("unreachable", f"Graph sent a link outside {self._origin}")
        resp = None
        for attempt in (0, 1):
            token = self._auth.get(force=attempt == 1)
            resp = self.ctx.http.get(url, headers={"Authorization": f"Bearer {token}", **(headers or {})},
                                     follow_redirects=False)
            if resp.status_code != 401:
                break
        assert resp is not None
        return resp

    def _failure(self, resp: httpx.Response, what: str, item: bool = False) -> SourceError:
        code, message = _graph_error(resp)
        st = resp.status_code
        detail = f"{what}: HTTP {st}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        if st == 401:
            return SourceError("auth_failed", detail)
        if st in (429, 503):
            return SourceError("throttled", detail + " (still throttled after retries; the next sync resumes)")
        if item:
            return ItemError({403: "forbidden", 404: "not_found", 410: "not_found"}.get(st, "http_error"), detail)
        if st == 403:
            return SourceError("forbidden", detail + " (check the app's Graph application permissions and consent)")
        if st == 404:
            return SourceError("not_found", detail)
        return SourceError("unreachable", detail)

    def _json(self, url: str, what: str, headers: dict[str, str] | None = None, item: bool = False) -> dict[str, Any]:
        try:
            resp = self._get(url, headers)
        except httpx.HTTPError as exc:
            raise SourceError("unreachable", f"{what}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise self._failure(resp, what, item)
        try:
            data = resp.json()
        except ValueError:
            raise SourceError("unreachable", f"{what}: the answer is not JSON") from None
        if not isinstance(data, dict):
            raise SourceError("unreachable", f"{what}: unexpected answer")
        return data

    def _paged(self, url: str, what: str, item: bool = False) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        next_url: str | None = url
        while next_url:
            page = self._json(next_url, what, item=item)
            out.extend(v for v in page.get("value") or () if isinstance(v, dict))
            next_url = page.get("@odata.nextLink")
        return out

    # -- scope ------------------------------------------------------------------------------------

    def drives(self) -> list[Drive]:
        if self._drives is not None:
            return self._drives
        drives: list[Drive] = []
        for site in self.settings.sites:
            host, _, path = site.partition(":")
            url = f"{self.graph}/sites/{host}" + (f":{urllib.parse.quote(path)}" if path != "/" else "")
            info = self._json(url, f"SharePoint site {site!r}")
            site_id = str(info["id"])
            wanted = self.settings.libraries.get(site, [])
            libs = self._paged(f"{self.graph}/sites/{urllib.parse.quote(site_id, safe=',')}/drives",
                               f"libraries of {site!r}")
            found = set()
            for d in sorted(libs, key=lambda d: str(d.get("id"))):  # a stable order: the cursor indexes drives
                names = {str(d.get("name") or "").casefold(),
                         urllib.parse.unquote(str(d.get("webUrl") or "").rstrip("/").rsplit("/", 1)[-1]).casefold()}
                hit = [w for w in wanted if w.casefold() in names]
                if wanted and not hit:
                    continue
                found.update(hit)
                label = f"{path.rstrip('/').rsplit('/', 1)[-1] or host}/{d.get('name', '')}"
                drives.append(Drive(str(d["id"]), label, site_id))
            missing = [w for w in wanted if w not in found]
            if missing:
                raise SourceError("not_found", f"site {site!r} has no document library named {', '.join(missing)}")
        for upn in self.settings.onedrive_users:
            info = self._json(f"{self.graph}/users/{urllib.parse.quote(upn, safe='@')}/drive", f"OneDrive of {upn!r}")
            drives.append(Drive(str(info["id"]), f"OneDrive {upn}"))
        self._drives = drives
        return drives

    def _fingerprint(self, drives: list[Drive]) -> str:
        key = json.dumps([[d.id for d in drives], [f.casefold() for f in self.settings.folders]])
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def check(self) -> str:
        self._auth.get()
        drives = self.drives()
        return f"{len(drives)} drive(s): " + ", ".join(d.label for d in drives)

    def close(self) -> None:
        self._drives = None
        self._folder_paths = {}

    # -- PollsChanges -----------------------------------------------------------------------------

    def changes(self, cursor: str | None) -> ChangePage:
        drives = self.drives()
        fp = self._fingerprint(drives)
        now = dt.datetime.now(dt.UTC)
        if cursor is None:
            state: dict[str, Any] = {"v": 1, "fp": fp, "full": True, "i": 0, "active": True, "links": {},
                                     "tree": {}, "roots": {}, "full_at": now.isoformat()}
        else:
            try:
                state = json.loads(cursor)
                ok = (state.get("v") == 1 and state["fp"] == fp and 0 <= int(state["i"]) < max(1, len(drives))
                      and all(isinstance(state.get(k), dict) for k in ("links", "tree", "roots"))
                      and dt.datetime.fromisoformat(state["full_at"]).tzinfo is not None)
            except (ValueError, TypeError, KeyError, AttributeError):
                ok = False
            if not ok:
                raise ResyncRequired("the allow-list changed or the cursor is unreadable")
            hours = self.settings.full_resync_hours
            if (hours and not state.get("active") and not state.get("full")
                    and now - dt.datetime.fromisoformat(state["full_at"]) > dt.timedelta(hours=hours)):
                raise ResyncRequired(f"periodic full resync (every {hours} h)")
        if not drives:
            return ChangePage([], json.dumps(state), more=False, full=bool(state["full"]))
        drive = drives[state["i"]]
        url = state["links"].get(drive.id) or f"{self.graph}/drives/{urllib.parse.quote(drive.id)}/root/delta"
        try:
            resp = self._get(url, {"Prefer": DELTA_PREFER})
        except httpx.HTTPError as exc:
            raise SourceError("unreachable", f"changes of {drive.label}: {type(exc).__name__}") from None
        code, _ = _graph_error(resp)
        if resp.status_code == 410 or (resp.status_code >= 400 and code.lower() in RESYNC_CODES):
            raise ResyncRequired(f"{drive.label}: Graph answered {resp.status_code} {code}".strip())
        if resp.status_code != 200:
            raise self._failure(resp, f"changes of {drive.label}")
        try:
            page = resp.json()
        except ValueError:
            raise SourceError("unreachable", f"changes of {drive.label}: the answer is not JSON") from None
        full = bool(state["full"])
        tree = state["tree"].setdefault(drive.id, {}) if self.scope.active else None
        changes = delta_changes(page.get("value") or [], drive, full, self.scope, tree, state["roots"],
                                functools.partial(self._source_item, drive))
        if page.get("@odata.nextLink"):
            state["links"][drive.id] = page["@odata.nextLink"]
            more = True
        else:
            link = page.get("@odata.deltaLink")
            if not link:
                raise SourceError("unreachable", f"changes of {drive.label}: neither nextLink nor deltaLink")
            state["links"][drive.id] = link
            state["i"] += 1
            more = state["i"] < len(drives)
            if not more:
                # a finished full pass goes on with one round of changes made meanwhile, so a sync ends caught up
                more = full
                state["i"], state["full"] = 0, False
        state["active"] = more
        return ChangePage(changes, json.dumps(state, separators=(",", ":")), more=more, full=full)

    def _source_item(self, drive: Drive, it: dict[str, Any], path: str) -> SourceItem:
        f = it.get("file") or {}
        hashes = f.get("hashes") or {}
        version = (it.get("cTag") or hashes.get("quickXorHash") or hashes.get("sha256Hash")
                   or hashes.get("sha1Hash") or it.get("eTag") or "")
        modified = None
        if it.get("lastModifiedDateTime"):
            try:
                modified = dt.datetime.fromisoformat(str(it["lastModifiedDateTime"]))
            except ValueError:
                modified = None
        size = it.get("size")
        return SourceItem(id=f"{drive.id}/{it['id']}", name=str(it.get("name") or it["id"]), path=f"{drive.label}/{path}",
                          version=str(version), size=int(size) if isinstance(size, int) else None, modified_at=modified,
                          mime_type=str(f.get("mimeType") or ""), web_url=str(it.get("webUrl") or ""), principals=None)

    # -- ListsIds ---------------------------------------------------------------------------------

    def list_ids(self) -> Iterator[str]:
        """Every in-scope file id, from a fresh delta enumeration of each drive (metadata only; no cursor).

        An id seen live and later as deleted in the same enumeration stays listed: pruning never
        removes more than it should, and the change feed reports that deletion anyway."""
        for drive in self.drives():
            tree: dict[str, list[str]] | None = {} if self.scope.active else None
            roots: dict[str, str] = {}
            url: str | None = f"{self.graph}/drives/{urllib.parse.quote(drive.id)}/root/delta"
            make = functools.partial(self._source_item, drive)
            while url:
                page = self._json(url, f"listing {drive.label}")
                for ch in delta_changes(page.get("value") or [], drive, True, self.scope, tree, roots, make):
                    if ch.item is not None:
                        yield ch.item_id
                url = page.get("@odata.nextLink")

    # -- GetsItem ---------------------------------------------------------------------------------

    def item(self, item_id: str) -> SourceItem | None:
        """``GET /drives/{d}/items/{i}``: the file as the delta listing would give it, or None when it is gone (404),
        deleted, not a file, or outside the allow-list (a drive not configured, a path outside ``folders``).
        Details in ``m365_items.py``."""
        drive_id, _, iid = item_id.rpartition("/")
        drive = next((d for d in self.drives() if d.id == drive_id), None)
        if drive is None or not iid:
            return None
        it = self._drive_item(drive, iid)
        if it is None or not is_live_file(it, iid, drive.id):
            return None
        cache = self._folder_paths.setdefault(drive.id, {})
        path = path_in_drive(it, self.scope, functools.partial(self._drive_item, drive), cache)
        return None if path is None else self._source_item(drive, it, path)

    def _drive_item(self, drive: Drive, item_id: str) -> dict[str, Any] | None:
        """One driveItem, or None when Graph answers 404/410; another failure raises (``ItemError`` for this item)."""
        what = f"item {item_id} of {drive.label}"
        try:
            resp = self._get(f"{self.graph}/drives/{urllib.parse.quote(drive.id)}/items/{urllib.parse.quote(item_id)}")
        except httpx.HTTPError as exc:
            raise SourceError("unreachable", f"{what}: {type(exc).__name__}") from None
        if resp.status_code in (404, 410):
            return None
        if resp.status_code != 200:
            raise self._failure(resp, what, item=True)
        try:
            data = resp.json()
        except ValueError:
            raise SourceError("unreachable", f"{what}: the answer is not JSON") from None
        return data if isinstance(data, dict) else None

    # -- FetchesContent ---------------------------------------------------------------------------

    def _split(self, item: SourceItem) -> tuple[Drive, str]:
        drive_id, _, item_id = item.id.rpartition("/")
        for d in self.drives():
            if d.id == drive_id:
                return d, item_id
        raise ItemError("out_of_scope", f"{item.path or item.id}: its drive is not in the allow-list")

    def fetch(self, item: SourceItem) -> bytes:
        drive, item_id = self._split(item)
        if not self.scope.allows(item.path[len(drive.label) + 1:]):
            raise ItemError("out_of_scope", f"{item.path}: outside the allow-listed folders")
        limit = self.ctx.max_bytes
        if item.size is not None and item.size > limit:
            raise ItemError("file_too_large", f"{item.name}: {item.size} bytes, over the {limit}-byte limit")
        what = f"downloading {item.path or item.name}"
        try:
            resp = self._get(f"{self.graph}/drives/{urllib.parse.quote(drive.id)}/items/{urllib.parse.quote(item_id)}/content")
        except httpx.HTTPError as exc:
            raise ItemError("download_failed", f"{what}: {type(exc).__name__}") from None
        if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
            return download(self.ctx.http, str(resp.url.join(resp.headers["Location"])), what, limit)
        if resp.status_code == 200:
            if len(resp.content) > limit:
                raise ItemError("file_too_large", f"{item.name}: over the {limit}-byte limit")
            return resp.content
        raise self._failure(resp, what, item=True)

    # -- ReadsPermissions / SyncsGroups -------------------------------------------------------------

    def permissions(self, item: SourceItem) -> tuple[str, ...]:
        drive, item_id = self._split(item)
        url = f"{self.graph}/drives/{urllib.parse.quote(drive.id)}/items/{urllib.parse.quote(item_id)}/permissions"
        try:
            perms = self._paged(url, f"permissions of {item.path or item.name}", item=True)
        except ItemError as exc:
            if exc.reason != "forbidden":
                raise
            log.warning("%s: permissions unreadable (%s); the item stays invisible", item.path, exc)
            return ()
        return map_permissions(perms, self.settings.tenant_id, drive.site_id)

    def groups(self, referenced: Iterable[str]) -> Iterator[GroupMembers]:
        prefix = group_principal("")
        for principal in sorted(set(referenced)):
            if not principal.startswith(prefix) or not (gid := principal[len(prefix):]):
                continue
            url = f"{self.graph}/groups/{urllib.parse.quote(gid)}/transitiveMembers?$select=id&$top=999"
            try:
                members = self._paged(url, f"members of group {gid}")
            except SourceError as exc:
                if exc.reason != "not_found":
                    raise
                members = []  # the group was deleted: nobody is in it any more
            yield GroupMembers(principal, tuple(sorted(set(user_members(members)))))
