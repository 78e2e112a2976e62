"""Nextcloud, ownCloud and any WebDAV server (RFC 4918), read-only.

Endpoints: ``PROPFIND`` with ``Depth: 1`` on each allow-listed folder and, breadth-first, on every
sub-folder found (``Depth: infinity`` is disabled on most servers, so it is never used); ``GET`` to
download a file. Properties asked for: ``resourcetype``, ``getetag``, ``getlastmodified``,
``getcontentlength``, ``getcontenttype`` and, where the server has them (Nextcloud/ownCloud),
``oc:fileid`` and ``oc:owner-id``. Unknown properties come back as ``404`` propstats and are ignored.

Listing token (``list_page``): ``{"roots": [allow-listed folders], "q": [folders still to list]}``.
One page is one folder's ``PROPFIND``; its sub-folders are appended to the queue, so a crash resumes
with the folders not yet listed. A token whose ``roots`` differ from the current settings (the
allow-list was edited meanwhile) or that cannot be read restarts the pass from the roots (listing
a folder twice in a pass is harmless).

Item ids: the file's path relative to ``base_url``, URL-decoded (``Team/HR/policy.md``), so on a
plain WebDAV server a move or rename is a delete plus an add. Where the server reports
``oc:fileid`` (Nextcloud, ownCloud) the id is ``fileid:<n>`` instead, and a move inside the
allow-list is an update of the same document. ``version`` is ``getetag``, or
``getlastmodified|getcontentlength`` where the server sends no ETag.

Scope: only paths under ``folders`` are ever listed or downloaded (``"/"`` stands for the whole
``base_url`` and must be written explicitly). A file moved out of them is no longer listed, so the
runner removes it at the end of the pass.

Permissions: ``acl`` rules map a path prefix (relative to ``base_url``) to principals
(``sources/acl.py``; the longest prefix wins; a path no rule covers gets none and is invisible).
With ``nextcloud_shares`` the Nextcloud OCS share API is read as well (``GET <ocs_url>?path=<p>
&reshares=true&format=json`` with ``OCS-APIRequest: true``) for the file and each of its parent
folders (shares of a folder apply to everything inside; folder answers are cached for the sync),
and merged with the rules: ``share_type`` 0 (user) → ``ext:nextcloud:<share_with>``, 1 (group) →
``ext:nextcloud:group:<share_with>``, 3 (public link) → ``public``; the owner (``oc:owner-id``, or
the configured ``username`` where the server does not report it, plus ``uid_owner``/``uid_file_owner``
of each share) → ``ext:nextcloud:<uid>``. Those principals are read through ``permissions()``
(the listing leaves ``principals`` unset), so an unreadable share list fails only that item. Cost:
one OCS request per file per sync, plus one per folder (cached).

Groups (``SyncsGroups``, with ``nextcloud_shares`` and ``nextcloud_groups``, both needed): after each
sync the members of every ``ext:nextcloud:group:<gid>`` on the source's documents are read from the
OCS provisioning API (``GET <groups_url>/<gid>/users?format=json``; ``nextcloud_ocs.py``), so users
linked to ``ext:nextcloud:<uid>`` reach the documents shared with their groups. That API needs an
admin account or a sub-admin of the groups: for a group it refuses, the sync still succeeds, a
warning is logged and the group gets no members (link its members by hand to the group principal).

NOT supported: other share types (e-mail 4, federated 6, Teams/circles 7, Talk rooms 10) are not
mapped, so those recipients do not see the document through Souverain; group membership without an
admin or sub-admin account (see above); ``Depth: infinity``;
digest authentication (basic only: use a Nextcloud app password). Files larger than
``ctx.max_bytes`` fail with ``file_too_large`` (the listed size is checked before the download).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import posixpath
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .acl import check_rules, principals_for_path
from .base import ConnectorContext, GroupMembers, ItemError, ListPage, SourceError, SourceItem
from .http import ResponseTooLarge
from .nextcloud_ocs import groups_endpoint, read_groups
from .secrets import SecretError, SecretRef

log = logging.getLogger(__name__)

DAV = "{DAV:}"
OC = "{http://owncloud.org/ns}"
PROPFIND_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
    "<d:resourcetype/><d:getetag/><d:getlastmodified/><d:getcontentlength/><d:getcontenttype/>"
    "<oc:fileid/><oc:owner-id/></d:prop></d:propfind>"
)
SHARE_USER, SHARE_GROUP, SHARE_LINK = 0, 1, 3


class WebDAVSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="WebDAV root the folders are relative to, e.g. "
                                      "https://cloud.example/remote.php/dav/files/alice/")
    username: str = Field(min_length=1, description="Account name (basic authentication)")
    password: SecretRef = Field(description="Reference to the password or Nextcloud app password: 'env:NAME' or 'file:/path'")
    folders: list[str] = Field(min_length=1, description="Allow-listed folders below base_url ('Team/HR'); nothing "
                                                         "outside is listed or downloaded; '/' means all of base_url")
    acl: dict[str, list[str]] = Field(default_factory=dict, description="Path prefix (relative to base_url) → principals; "
                                      "the longest prefix wins; a file no rule covers is invisible unless shares grant it")
    nextcloud_shares: bool = Field(default=False, description="Also read Nextcloud shares (OCS share API) as permissions")
    ocs_url: str = Field(default="", description="OCS shares endpoint; default derived from base_url: "
                                                 "<server>/ocs/v2.php/apps/files_sharing/api/v1/shares")
    nextcloud_groups: bool = Field(default=True, description="With nextcloud_shares: also sync the members of the "
                                   "groups shares name (OCS provisioning API; needs an admin or sub-admin account)")
    groups_url: str = Field(default="", description="OCS provisioning groups endpoint; default derived from base_url "
                                                    "or ocs_url: <server>/ocs/v2.php/cloud/groups")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urllib.parse.urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base_url must be an http(s) URL")
        if parts.username or parts.password:
            raise ValueError("base_url must not contain credentials; use username and password")
        return value.strip().rstrip("/") + "/"

    @field_validator("folders")
    @classmethod
    def _folders(cls, value: list[str]) -> list[str]:
        cleaned = sorted({f.strip().strip("/") for f in value})
        if any(".." in f.split("/") for f in cleaned):
            raise ValueError("folders must not contain '..'")
        # a folder inside another allow-listed folder is already covered: listing it twice would duplicate items
        return [f for f in cleaned if not any(_under(f, other) for other in cleaned if other != f)]

    @field_validator("acl")
    @classmethod
    def _acl(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return check_rules(value)

    @model_validator(mode="after")
    def _visible(self) -> WebDAVSettings:
        if not self.acl and not self.nextcloud_shares:
            raise ValueError("set acl rules or nextcloud_shares: without either, every indexed file would be invisible")
        if self.nextcloud_shares and not self.ocs_url and "/remote.php/" not in self.base_url:
            raise ValueError("nextcloud_shares needs ocs_url when base_url is not a Nextcloud /remote.php/ URL")
        if (self.nextcloud_shares and self.nextcloud_groups and not self.groups_url
                and not groups_endpoint(_server_root(self.base_url), self.ocs_url)):
            raise ValueError("nextcloud_groups needs groups_url (<server>/ocs/v2.php/cloud/groups) when neither "
                             "base_url nor ocs_url is a Nextcloud URL; or set nextcloud_groups to false")
        return self


def _server_root(base_url: str) -> str:
    return base_url.split("/remote.php/", 1)[0] if "/remote.php/" in base_url else ""


def _under(path: str, folder: str) -> bool:
    return folder == "" or path == folder or path.startswith(folder + "/")


def _parse_date(value: str) -> dt.datetime | None:
    try:
        return email.utils.parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


class WebDAVConnector:
    kind: ClassVar[str] = "webdav"
    namespace: ClassVar[str] = "nextcloud"
    config_model: ClassVar[type[BaseModel]] = WebDAVSettings

    def __init__(self, settings: WebDAVSettings, ctx: ConnectorContext) -> None:
        self.settings = settings
        self.ctx = ctx
        self._base_path = urllib.parse.unquote(urllib.parse.urlsplit(settings.base_url).path)
        self._server_root = _server_root(settings.base_url)
        self.ocs_url = settings.ocs_url or (f"{self._server_root}/ocs/v2.php/apps/files_sharing/api/v1/shares"
                                            if self._server_root else "")
        self.groups_url = (settings.groups_url or groups_endpoint(self._server_root, self.ocs_url)).rstrip("/")
        self._share_prefix = self._user_root_prefix()
        self._auth: tuple[str, str] | None = None
        self._share_cache: dict[str, tuple[str, ...]] = {}
        self._owners: dict[str, str] = {}  # path → oc:owner-id seen in the listing

    # -- plumbing ---------------------------------------------------------------------------------

    def _user_root_prefix(self) -> str:
        """base_url's path below the user's files root, which is what OCS share paths are relative to."""
        path = self._base_path
        for marker in ("/remote.php/dav/files/", "/remote.php/webdav/"):
            if marker in path:
                rest = path.split(marker, 1)[1]
                if marker.endswith("files/"):
                    rest = rest.split("/", 1)[1] if "/" in rest else ""
                return rest.strip("/")
        return ""

    def _credentials(self) -> tuple[str, str]:
        if self._auth is None:
            try:
                password = self.ctx.secrets.resolve(self.settings.password).get_secret_value()
            except SecretError as exc:
                raise SourceError("missing_credentials", str(exc)) from None
            self._auth = (self.settings.username, password)
        return self._auth

    def _url(self, rel: str, folder: bool = False) -> str:
        quoted = urllib.parse.quote(rel.strip("/"), safe="/")
        return self.settings.base_url + quoted + ("/" if folder and quoted else "")

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.ctx.http.request(method, url, auth=self._credentials(), **kwargs)
        except httpx.HTTPError as exc:
            raise SourceError("unreachable", f"WebDAV server {urllib.parse.urlsplit(url).netloc} "
                                             f"unreachable: {type(exc).__name__}") from None

    def _source_failure(self, resp: httpx.Response, what: str) -> SourceError:
        code = resp.status_code
        if code == 401:
            return SourceError("auth_failed", f"WebDAV server refused the credentials of {self.settings.username!r} (HTTP 401)")
        if code == 403:
            return SourceError("forbidden", f"{what}: access denied (HTTP 403)")
        if code in (429, 503):
            return SourceError("throttled", f"{what}: the server kept throttling (HTTP {code}) after retries")
        return SourceError("unreachable", f"{what}: unexpected HTTP {code}")

    def _allowed(self, rel: str) -> bool:
        return any(_under(rel, folder) for folder in self.settings.folders)

    def _propfind(self, rel: str, depth: str) -> httpx.Response:
        return self._request("PROPFIND", self._url(rel, folder=True), content=PROPFIND_BODY.encode(),
                             headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"})

    # -- Connector --------------------------------------------------------------------------------

    def check(self) -> str:
        for folder in self.settings.folders:
            resp = self._propfind(folder, "0")
            if resp.status_code == 404:
                raise SourceError("not_found", f"allow-listed folder {folder or '/'!r} does not exist on the server")
            if resp.status_code != 207:
                raise self._source_failure(resp, f"folder {folder or '/'!r}")
        host = urllib.parse.urlsplit(self.settings.base_url).netloc
        return f"WebDAV {host}: {len(self.settings.folders)} folder(s) readable as {self.settings.username}"

    def close(self) -> None:
        self._share_cache.clear()
        self._owners.clear()

    # -- LoadsAll ---------------------------------------------------------------------------------

    def _queue(self, token: str | None) -> list[str]:
        roots = list(self.settings.folders)
        if token:
            try:
                state = json.loads(token)
                if state.get("roots") == roots and isinstance(state.get("q"), list):
                    return [str(f) for f in state["q"] if self._allowed(str(f))]
            except (ValueError, AttributeError):
                pass
            log.info("WebDAV listing token does not match the allow-list any more; listing again from the roots")
        return roots

    def list_page(self, token: str | None) -> ListPage:
        queue = self._queue(token)
        if not queue:
            return ListPage([], None)
        folder, rest = queue[0], queue[1:]
        resp = self._propfind(folder, "1")
        items: list[SourceItem] = []
        if resp.status_code == 404:
            if folder in self.settings.folders:
                raise SourceError("not_found", f"allow-listed folder {folder or '/'!r} does not exist on the server")
            log.info("WebDAV folder %r vanished during the listing", folder)
        elif resp.status_code != 207:
            raise self._source_failure(resp, f"listing folder {folder or '/'!r}")
        else:
            for rel, props in self._parse_multistatus(resp.content):
                if rel.strip("/") == folder or not self._allowed(rel.strip("/")):
                    continue
                if props.get("collection"):
                    rest.append(rel.strip("/"))
                else:
                    items.append(self._item(rel, props))
        next_token = json.dumps({"roots": list(self.settings.folders), "q": rest}, ensure_ascii=False) if rest else None
        return ListPage(items, next_token)

    def _parse_multistatus(self, body: bytes) -> list[tuple[str, dict[str, Any]]]:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise SourceError("bad_response", "WebDAV server sent a PROPFIND answer that is not XML") from None
        out: list[tuple[str, dict[str, Any]]] = []
        for response in root.iter(f"{DAV}response"):
            href = response.findtext(f"{DAV}href") or ""
            path = urllib.parse.unquote(urllib.parse.urlsplit(href).path)
            if not (path + "/").startswith(self._base_path):
                log.warning("WebDAV answer mentions a path outside base_url; ignored")
                continue
            rel = path[len(self._base_path):]
            if ".." in rel.split("/"):
                continue
            props: dict[str, Any] = {"collection": href.endswith("/")}
            for propstat in response.findall(f"{DAV}propstat"):
                if " 200 " not in f" {propstat.findtext(f'{DAV}status') or ''} ":
                    continue
                for prop in propstat.findall(f"{DAV}prop/*"):
                    if prop.tag == f"{DAV}resourcetype":
                        props["collection"] = prop.find(f"{DAV}collection") is not None
                    else:
                        props[prop.tag] = (prop.text or "").strip()
            out.append((rel, props))
        return out

    def _item(self, rel: str, props: dict[str, Any]) -> SourceItem:
        rel = rel.strip("/")
        etag = props.get(f"{DAV}getetag", "").removeprefix("W/").strip('"')
        modified = props.get(f"{DAV}getlastmodified", "")
        length = props.get(f"{DAV}getcontentlength", "")
        fileid = props.get(f"{OC}fileid", "")
        web_url = f"{self._server_root}/index.php/f/{fileid}" if fileid and self._server_root else self._url(rel)
        principals = None if self.settings.nextcloud_shares else principals_for_path(self.settings.acl, rel)
        item = SourceItem(
            id=f"fileid:{fileid}" if fileid else rel,
            name=posixpath.basename(rel),
            path=rel,
            version=etag or f"{modified}|{length}",
            size=int(length) if length.isdigit() else None,
            modified_at=_parse_date(modified),
            mime_type=props.get(f"{DAV}getcontenttype", ""),
            web_url=web_url,
            principals=principals,
        )
        owner = props.get(f"{OC}owner-id", "")
        if owner and self.settings.nextcloud_shares:
            self._owners[item.path] = owner
        return item

    # -- FetchesContent ---------------------------------------------------------------------------

    def fetch(self, item: SourceItem) -> bytes:
        rel = item.path.strip("/")
        if not self._allowed(rel):
            raise ItemError("out_of_scope", f"{rel!r} is outside the allow-listed folders")
        limit = self.ctx.max_bytes
        if item.size is not None and item.size > limit:
            raise ItemError("file_too_large", f"{item.name}: {item.size} bytes, over the {limit}-byte limit")
        try:  # streamed with a cap: a file larger than announced is cut off, never held in full
            resp = self._request("GET", self._url(rel), limit=limit)
        except ResponseTooLarge:
            raise ItemError("file_too_large", f"{item.name}: over the {limit}-byte limit") from None
        if resp.status_code == 200:
            return resp.content
        if resp.status_code in (401, 429, 503):
            raise self._source_failure(resp, f"downloading {rel!r}")
        reason = {404: "not_found", 410: "not_found", 403: "forbidden"}.get(resp.status_code, "download_failed")
        raise ItemError(reason, f"{rel!r}: download failed (HTTP {resp.status_code})")

    # -- ReadsPermissions (Nextcloud shares) ------------------------------------------------------

    def permissions(self, item: SourceItem) -> tuple[str, ...]:
        rel = item.path.strip("/")
        found = set(principals_for_path(self.settings.acl, rel))
        if not self.settings.nextcloud_shares:
            return tuple(sorted(found))
        owner = self._owners.get(rel) or self.settings.username
        found.add(f"ext:{self.namespace}:{owner}")
        parts = rel.split("/")
        for depth in range(1, len(parts) + 1):
            found.update(self._shares(posixpath.join(self._share_prefix, *parts[:depth]), cache=depth < len(parts)))
        return tuple(sorted(found))

    def _shares(self, path: str, cache: bool) -> tuple[str, ...]:
        """Principals granted by the shares set directly on ``path`` (relative to the user's files root)."""
        if cache and path in self._share_cache:
            return self._share_cache[path]
        params = {"path": "/" + path, "reshares": "true", "format": "json"}
        resp = self._request("GET", self.ocs_url, params=params,
                             headers={"OCS-APIRequest": "true", "Accept": "application/json"})
        if resp.status_code == 404:
            principals: tuple[str, ...] = ()
        elif resp.status_code in (401, 429, 503):
            raise self._source_failure(resp, "reading Nextcloud shares")
        elif resp.status_code != 200:
            raise ItemError("permissions_unreadable", f"shares of {path!r}: HTTP {resp.status_code}")
        else:
            try:
                data = resp.json()["ocs"]["data"]
            except (ValueError, KeyError, TypeError):
                raise ItemError("permissions_unreadable", f"shares of {path!r}: not an OCS JSON answer") from None
            principals = tuple(sorted(self._map_shares(data if isinstance(data, list) else [])))
        if cache:
            self._share_cache[path] = principals
        return principals

    def _map_shares(self, shares: list[Any]) -> set[str]:
        ns = self.namespace
        out: set[str] = set()
        for share in shares:
            if not isinstance(share, dict):
                continue
            for key in ("uid_owner", "uid_file_owner"):
                if share.get(key):
                    out.add(f"ext:{ns}:{share[key]}")
            raw_kind, target = str(share.get("share_type")), str(share.get("share_with") or "")
            kind = int(raw_kind) if raw_kind.isdigit() else None
            if kind == SHARE_USER and target:
                out.add(f"ext:{ns}:{target}")
            elif kind == SHARE_GROUP and target:
                out.add(f"ext:{ns}:group:{target}")
            elif kind == SHARE_LINK:
                out.add("public")
        return out

    # -- SyncsGroups (Nextcloud groups) -----------------------------------------------------------

    def groups(self, referenced: Iterable[str]) -> Iterator[GroupMembers]:
        """Members of the ``ext:nextcloud:group:<gid>`` groups named by the documents' shares."""
        if not (self.settings.nextcloud_shares and self.settings.nextcloud_groups and self.groups_url):
            return
        yield from read_groups(self._request, self._source_failure, self.groups_url, referenced, self.settings.username)
