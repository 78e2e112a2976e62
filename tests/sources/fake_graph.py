"""A local stand-in for Microsoft Graph and the Microsoft Entra token endpoint (m365 connector tests).

It follows the public documentation, not our code:

- ``POST /{tenant}/oauth2/v2.0/token`` (client credentials; ``invalid_client`` / AADSTS errors as
  documented) and ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (what MSAL reads);
- ``GET /v1.0/sites/{hostname}:/{path}``, ``/sites/{id}/drives``, ``/users/{upn}/drive``;
- ``GET /v1.0/drives/{id}/root/delta``: a full enumeration (parents before children) paged with
  ``@odata.nextLink``, then ``@odata.deltaLink``; a delta token replays the latest state of every
  item changed since (deleted ones with the ``deleted`` facet, changed items with their parent
  folders, a moved folder *without* its descendants); an expired token answers ``410 Gone`` with
  a ``Location`` and a ``resyncChangesApplyDifferences`` error;
- ``GET /v1.0/drives/{d}/items/{i}``: the driveItem, its ``parentReference`` with the percent-encoded
  ``path`` a direct GET returns (``/drives/{d}/root:/HR%20Team``; none for the root, whose JSON has
  the ``root`` facet); ``404 itemNotFound`` for a deleted or unknown item (``get_omits_path`` leaves
  ``path`` out, to exercise a client's walk up ``parentReference.id``);
- ``GET /v1.0/drives/{d}/items/{i}/content``: ``302 Found`` to a pre-authenticated URL on a second
  port (another origin, as in Graph), which needs no Authorization header;
- ``GET /v1.0/drives/{d}/items/{i}/permissions`` and ``/groups/{id}/transitiveMembers`` (paged);
- every Graph call needs a bearer token (``401 InvalidAuthenticationToken`` otherwise);
  ``throttle_next`` answers ``429``/``503`` with ``Retry-After``.

Absolute links are built from the request's ``Host`` (and ``X-Forwarded-Proto``), so a client that
reaches the double through a rewriting transport sees ``https://graph.microsoft.com`` links.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import secrets
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Drive:
    id: str
    name: str
    drive_type: str
    web_url: str
    root_id: str
    site_id: str = ""
    default_permissions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Item:
    id: str
    drive_id: str
    name: str
    parent_id: str | None
    folder: bool
    content: bytes = b""
    etag: int = 1
    ctag: int = 1
    modified: str = ""
    permissions: list[dict[str, Any]] | None = None  # None: inherited from the parent (the drive's defaults at root)
    deleted: bool = False
    seq: int = 0


@dataclass
class Request:
    server: str  # graph | download
    method: str
    path: str
    query: str
    authorization: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _item_id() -> str:
    return "01" + base64.b32encode(secrets.token_bytes(20)).decode()[:32]


def _enc(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _dec(token: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


class FakeGraph:
    def __init__(self, tenant_id: str = "8f0c1a52-3b7e-4c1d-9a5e-2d6f0b9c7e11", client_id: str = "5d1c8b3a-7e2f-4a61-b0c9",
                 client_secret: str = "fake-Graph-s3cret~value", page_size: int = 50) -> None:
        self.tenant_id, self.client_id, self.client_secret = tenant_id, client_id, client_secret
        self.page_size = page_size
        self.lock = threading.RLock()
        self.seq = 0
        self.epoch = 0
        self.sites: dict[str, dict[str, Any]] = {}  # "host:/path" -> site
        self.drives: dict[str, Drive] = {}
        self.items: dict[str, Item] = {}
        self.users: dict[str, dict[str, Any]] = {}  # upn (casefold) -> {"id", "drive"}
        self.groups: dict[str, list[tuple[str, str]]] = {}  # gid -> [("user"|"group", id)]
        self.requests: list[Request] = []
        self.tokens: dict[str, float] = {}
        self.tokens_issued = 0
        self._throttle: list[tuple[int, int, str]] = []
        self._fail: dict[str, int] = {}
        self._enums: dict[str, tuple[list[str], int]] = {}
        self._tempauth: dict[str, str] = {}
        self.get_omits_path = False
        self._servers = [self._serve("graph"), self._serve("download")]
        self.base = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        self.download_base = f"http://127.0.0.1:{self._servers[1].server_address[1]}"
        self.graph_url = f"{self.base}/v1.0"
        self.authority_url = self.base

    # -- server plumbing ------------------------------------------------------------------------

    def _serve(self, kind: str) -> ThreadingHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, kind, "GET")

            def do_POST(self) -> None:
                fake._handle(self, kind, "POST")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return server

    def close(self) -> None:
        for s in self._servers:
            s.shutdown()
            s.server_close()

    def __enter__(self) -> FakeGraph:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        if body is not None and not isinstance(body, bytes):
            h.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    @staticmethod
    def _error(code: str, message: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": message, "innerError": {
            "date": _now(), "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}}}

    def _handle(self, h: BaseHTTPRequestHandler, kind: str, method: str) -> None:
        url = urllib.parse.urlsplit(h.path)
        auth = h.headers.get("Authorization", "")
        with self.lock:
            self.requests.append(Request(kind, method, urllib.parse.unquote(url.path), url.query, auth))
        proto = h.headers.get("X-Forwarded-Proto", "http")
        origin = f"{proto}://{h.headers.get('Host')}"
        query = dict(urllib.parse.parse_qsl(url.query))
        try:
            if kind == "download":
                return self._download(h, url.path, query)
            if method == "POST":
                length = int(h.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(h.rfile.read(length).decode()))
                return self._token(h, url.path, form)
            if url.path.endswith("/v2.0/.well-known/openid-configuration"):
                tenant = url.path.split("/")[1]
                return self._send(h, 200, {
                    "token_endpoint": f"{origin}/{tenant}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{origin}/{tenant}/oauth2/v2.0/authorize",
                    "issuer": f"https://login.microsoftonline.com/{self.tenant_id}/v2.0",
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                              "client_secret_basic"]})
            token = auth[7:] if auth.startswith("Bearer ") else ""
            with self.lock:
                valid = token in self.tokens and self.tokens[token] > dt.datetime.now(dt.UTC).timestamp()
                throttle = self._throttle.pop(0) if self._throttle and self._throttle[0][2] in url.path else None
            if not valid:
                msg = "Access token is empty." if not token else "Lifetime validation failed, the token is expired."
                return self._send(h, 401, self._error("InvalidAuthenticationToken", msg))
            if throttle:
                code = "TooManyRequests" if throttle[0] == 429 else "serviceNotAvailable"
                return self._send(h, throttle[0], self._error(code, "Please retry again later."),
                                  {"Retry-After": str(throttle[1])})
            with self.lock:
                self._graph(h, origin, urllib.parse.unquote(url.path), query)
        except Exception as exc:  # a bug in the double shows up as a 500 the test will notice
            self._send(h, 500, self._error("generalException", f"{type(exc).__name__}: {exc}"))

    def _token(self, h: BaseHTTPRequestHandler, path: str, form: dict[str, str]) -> None:
        tenant = path.split("/")[1]

        def aad(status: int, error: str, code: int, text: str) -> None:
            self._send(h, status, {"error": error, "error_description": f"AADSTS{code}: {text}\r\nTrace ID: "
                                   f"{uuid.uuid4()}\r\nTimestamp: {_now()}", "error_codes": [code],
                                   "timestamp": _now(), "trace_id": str(uuid.uuid4()),
                                   "correlation_id": str(uuid.uuid4())})
        if path != f"/{tenant}/oauth2/v2.0/token":
            return self._send(h, 404, None)
        if tenant != self.tenant_id:
            return aad(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return aad(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        if form.get("client_id") != self.client_id:
            return aad(400, "unauthorized_client", 700016, f"Application with identifier '{form.get('client_id')}' "
                       "was not found in the directory.")
        if form.get("client_secret") != self.client_secret:
            return aad(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent "
                       "in the request is the client secret value, not the client secret ID.")
        if not form.get("scope", "").endswith("/.default"):
            return aad(400, "invalid_scope", 1002012, "The provided value for scope is not valid.")
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = dt.datetime.now(dt.UTC).timestamp() + 3599
            self.tokens_issued += 1
        self._send(h, 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})

    # -- Graph routes ---------------------------------------------------------------------------

    def _graph(self, h: BaseHTTPRequestHandler, origin: str, path: str, q: dict[str, str]) -> None:
        parts = path.split("/")[2:] if path.startswith("/v1.0/") else []
        base = f"{origin}/v1.0"
        if len(parts) >= 2 and parts[0] == "sites":
            if ":" in parts[1]:
                host, _, rest = path.split("/", 3)[3].partition(":")
                site = self.sites.get(f"{host.lower()}:{rest.rstrip(':').rstrip('/') or '/'}".casefold())
            else:
                site = next((s for s in self.sites.values() if s["id"] == parts[1] or parts[1] == s["host"]), None)
            if site is None:
                return self._send(h, 404, self._error("itemNotFound", "Requested site could not be found"))
            if len(parts) == 3 and parts[2] == "drives":
                drives = [self._drive_json(d) for d in self.drives.values() if d.site_id == site["id"]]
                return self._send(h, 200, {"value": drives})
            return self._send(h, 200, {k: v for k, v in site.items() if k != "host"})
        if len(parts) == 3 and parts[0] == "users" and parts[2] == "drive":
            user = self.users.get(parts[1].casefold())
            if user is None:
                return self._send(h, 404, self._error("itemNotFound", "The user does not exist."))
            return self._send(h, 200, self._drive_json(self.drives[user["drive"]]))
        if len(parts) >= 4 and parts[0] == "drives" and parts[1] in self.drives:
            drive = self.drives[parts[1]]
            if parts[2:] == ["root", "delta"]:
                return self._delta(h, base, drive, q.get("token"))
            if len(parts) in (4, 5) and parts[2] == "items":
                item = self.items.get(parts[3])
                if item is None or item.deleted or item.drive_id != drive.id:
                    return self._send(h, 404, self._error("itemNotFound", "The resource could not be found."))
                if len(parts) == 4:
                    return self._send(h, 200, self._item_json(item, delta=self.get_omits_path))
                if parts[4] == "content":
                    tempauth = secrets.token_urlsafe(16)
                    self._tempauth[tempauth] = item.id
                    return self._send(h, 302, b"", {"Location": f"{self.download_base}/download/{item.id}?tempauth={tempauth}"})
                if parts[4] == "permissions":
                    perms = self.effective_permissions(item)
                    return self._paged(h, f"{base}/drives/{drive.id}/items/{item.id}/permissions", perms, q)
        if len(parts) == 3 and parts[0] == "groups" and parts[2] == "transitiveMembers":
            if parts[1] not in self.groups:
                return self._send(h, 404, self._error("Request_ResourceNotFound", f"Resource '{parts[1]}' does not exist."))
            members = [{"@odata.type": f"#microsoft.graph.{kind}", "id": oid} for kind, oid in self._transitive(parts[1])]
            return self._paged(h, f"{base}/groups/{parts[1]}/transitiveMembers", members, q)
        return self._send(h, 400, self._error("BadRequest", f"Unsupported request: GET {path}"))

    def _paged(self, h: BaseHTTPRequestHandler, url: str, values: list[Any], q: dict[str, str]) -> None:
        start = int(q.get("$skiptoken") or 0)
        body: dict[str, Any] = {"value": values[start:start + self.page_size]}
        if start + self.page_size < len(values):
            body["@odata.nextLink"] = f"{url}?$skiptoken={start + self.page_size}"
        self._send(h, 200, body)

    def _transitive(self, gid: str, seen: set[str] | None = None) -> list[tuple[str, str]]:
        seen = seen if seen is not None else {gid}
        out: list[tuple[str, str]] = []
        for kind, oid in self.groups.get(gid, []):
            if (kind, oid) not in out:
                out.append((kind, oid))
            if kind == "group" and oid not in seen:
                seen.add(oid)
                out += [m for m in self._transitive(oid, seen) if m not in out]
        return out

    def _delta(self, h: BaseHTTPRequestHandler, base: str, drive: Drive, token: str | None) -> None:
        link = f"{base}/drives/{drive.id}/root/delta"
        if token is None:
            ids, upto, offset = [i.id for i in self._tree(drive.root_id)], self.seq, 0
            enum = secrets.token_hex(6)
            self._enums[enum] = (ids, upto)
        else:
            tok = _dec(token)
            if tok["e"] != self.epoch:
                return self._send(h, 410, self._error(
                    "resyncChangesApplyDifferences", "Resync required. Replace any local items with the server's "
                    "version (including deletes) if you're sure that the service was up to date with your local changes "
                    "when you last sync'd. Upload any local changes that the server doesn't know about."),
                    {"Location": link})
            if tok.get("n"):
                enum, offset = tok["n"], tok["o"]
                ids, upto = self._enums[enum]
            else:
                changed = sorted((i for i in self.items.values() if i.drive_id == drive.id and i.seq > tok["s"]),
                                 key=lambda i: i.seq)
                ids = []
                for it in changed:
                    for anc in ([] if it.deleted else self._ancestors(it)) + [it]:
                        if anc.id not in ids:
                            ids.append(anc.id)
                upto, offset, enum = self.seq, 0, secrets.token_hex(6)
                self._enums[enum] = (ids, upto)
        chunk = ids[offset:offset + self.page_size]
        body: dict[str, Any] = {"value": [self._item_json(self.items[i], delta=True) for i in chunk]}
        if offset + self.page_size < len(ids):
            body["@odata.nextLink"] = f"{link}?token={_enc({'e': self.epoch, 'n': enum, 'o': offset + self.page_size})}"
        else:
            body["@odata.deltaLink"] = f"{link}?token={_enc({'e': self.epoch, 's': upto})}"
        self._send(h, 200, body)

    def _download(self, h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        item_id = path.rsplit("/", 1)[-1]
        with self.lock:
            ok = self._tempauth.get(q.get("tempauth", "")) == item_id
            item = self.items.get(item_id)
            fail = self._fail.get(item_id)
        if not ok or item is None or item.deleted:
            return self._send(h, 401 if not ok else 404, b"")
        if fail:
            return self._send(h, fail, b"")
        self._send(h, 200, item.content, {"Content-Type": "application/octet-stream"})

    # -- JSON shapes ----------------------------------------------------------------------------

    def _drive_json(self, d: Drive) -> dict[str, Any]:
        return {"id": d.id, "name": d.name, "driveType": d.drive_type, "webUrl": d.web_url,
                "createdDateTime": "2024-01-01T00:00:00Z", "description": ""}

    def _item_json(self, it: Item, delta: bool = False) -> dict[str, Any]:
        drive = self.drives[it.drive_id]
        ref = {"driveId": drive.id, "driveType": drive.drive_type, **({"siteId": drive.site_id} if drive.site_id else {})}
        if it.deleted:
            return {"id": it.id, "deleted": {"state": "deleted"}, "parentReference": ref, **({"folder": {}} if it.folder else {})}
        guid = uuid.UUID(hashlib.md5(it.id.encode()).hexdigest())
        out: dict[str, Any] = {"id": it.id, "name": it.name, "eTag": f'"{{{guid}}},{it.etag}"',
                               "cTag": f'"c:{{{guid}}},{it.ctag}"', "createdDateTime": it.modified,
                               "lastModifiedDateTime": it.modified, "webUrl": f"{drive.web_url}/{self.path_of(it)}"}
        if it.id == drive.root_id:
            return {**out, "root": {}, "folder": {"childCount": 0}, "parentReference": ref}
        parent_path = self.path_of(self.items[it.parent_id]) if it.parent_id else ""
        path = f"/drives/{drive.id}/root:" + (f"/{urllib.parse.quote(parent_path)}" if parent_path else "")
        out["parentReference"] = {**ref, "id": it.parent_id, **({} if delta else {"path": path})}
        if it.folder:
            out["folder"] = {"childCount": sum(1 for c in self.items.values() if c.parent_id == it.id and not c.deleted)}
            out["size"] = 0
        else:
            out["size"] = len(it.content)
            out["file"] = {"mimeType": "text/plain", "hashes": {
                "quickXorHash": base64.b64encode(hashlib.sha1(it.content).digest()).decode()}}
        return out

    # -- the tenant model (what tests call) -----------------------------------------------------

    def _bump(self, it: Item) -> None:
        self.seq += 1
        it.seq = self.seq
        it.modified = _now()

    def add_site(self, hostname: str, path: str, libraries: tuple[str, ...] = ("Documents",)) -> dict[str, Any]:
        with self.lock:
            site_id = f"{hostname},{uuid.uuid4()},{uuid.uuid4()}"
            site = {"id": site_id, "host": hostname, "name": path.rstrip("/").rsplit("/", 1)[-1],
                    "displayName": path.rstrip("/").rsplit("/", 1)[-1].upper(), "webUrl": f"https://{hostname}{path}"}
            self.sites[f"{hostname.lower()}:{path.rstrip('/') or '/'}".casefold()] = site
            for lib in libraries:
                self.add_drive(site, lib)
            return site

    def add_drive(self, site: dict[str, Any] | None, name: str, drive_type: str = "documentLibrary",
                  web_url: str = "") -> Drive:
        with self.lock:
            drive_id = "b!" + base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
            root = Item(_item_id(), drive_id, "root", None, True)
            lib_url = web_url or (f"{site['webUrl']}/{'Shared Documents' if name == 'Documents' else name}" if site else "")
            drive = Drive(drive_id, name, drive_type, lib_url, root.id, site["id"] if site else "")
            self.drives[drive_id] = drive
            self.items[root.id] = root
            self._bump(root)
            return drive

    def drive(self, name: str, site: dict[str, Any] | None = None) -> Drive:
        return next(d for d in self.drives.values() if d.name == name and (site is None or d.site_id == site["id"]))

    def add_user(self, upn: str, with_drive: bool = True) -> str:
        with self.lock:
            oid = str(uuid.uuid4())
            self.users[upn.casefold()] = {"id": oid, "drive": None}
            if with_drive:
                host, personal = upn.split("@")[-1].split(".")[0], upn.replace("@", "_").replace(".", "_")
                d = self.add_drive(None, "OneDrive", "business",
                                   f"https://{host}-my.sharepoint.com/personal/{personal}/Documents")
                self.users[upn.casefold()]["drive"] = d.id
            return oid

    def user_drive(self, upn: str) -> Drive:
        return self.drives[self.users[upn.casefold()]["drive"]]

    def _folder(self, drive: Drive, path: str) -> Item:
        cur = self.items[drive.root_id]
        for part in [p for p in path.split("/") if p]:
            nxt = next((c for c in self.items.values() if c.parent_id == cur.id and c.name.casefold() == part.casefold()
                        and not c.deleted), None)
            if nxt is None:
                nxt = Item(_item_id(), drive.id, part, cur.id, True)
                self.items[nxt.id] = nxt
                self._bump(nxt)
            cur = nxt
        return cur

    def add_file(self, drive: Drive, path: str, content: bytes | str,
                 permissions: list[dict[str, Any]] | None = None) -> Item:
        with self.lock:
            folder, _, name = path.strip("/").rpartition("/")
            parent = self._folder(drive, folder)
            data = content.encode() if isinstance(content, str) else content
            it = Item(_item_id(), drive.id, name, parent.id, False, data, permissions=permissions)
            self.items[it.id] = it
            self._bump(it)
            return it

    def item_at(self, drive: Drive, path: str) -> Item:
        folder, _, name = path.strip("/").rpartition("/")
        with self.lock:
            parent = self._folder(drive, folder)
            return next(c for c in self.items.values() if c.parent_id == parent.id and c.name == name and not c.deleted)

    def update_file(self, item: Item, content: bytes | str) -> None:
        with self.lock:
            item.content = content.encode() if isinstance(content, str) else content
            item.etag += 1
            item.ctag += 1
            self._bump(item)

    def rename(self, item: Item, new_name: str) -> None:
        with self.lock:
            item.name = new_name
            item.etag += 1
            self._bump(item)

    def move_item(self, item: Item, folder_path: str) -> None:
        """Move a file or a folder; as in Graph, a moved folder's descendants are not reported by delta."""
        with self.lock:
            item.parent_id = self._folder(self.drives[item.drive_id], folder_path).id
            item.etag += 1
            self._bump(item)

    def delete_item(self, item: Item, unreported: bool = False) -> None:
        """Delete (children first). ``unreported``: the change log misses it, as a lost delta event would."""
        with self.lock:
            for child in [c for c in self.items.values() if c.parent_id == item.id and not c.deleted]:
                self.delete_item(child, unreported)
            item.deleted = True
            if not unreported:
                self._bump(item)

    def set_permissions(self, item: Item, permissions: list[dict[str, Any]] | None) -> None:
        """Replace an item's own permissions (None: inherit). The item, and for a folder every descendant that
        inherits from it, shows up in delta as a sharing change (``Prefer: deltashowsharingchanges``)."""
        with self.lock:
            item.permissions = permissions
            self._bump(item)
            todo = [item]
            while todo:
                parent = todo.pop()
                for child in [c for c in self.items.values() if c.parent_id == parent.id and not c.deleted]:
                    if child.permissions is None:
                        self._bump(child)
                        todo.append(child)

    def effective_permissions(self, item: Item) -> list[dict[str, Any]]:
        cur: Item | None = item
        while cur is not None and cur.permissions is None:
            cur = self.items.get(cur.parent_id) if cur.parent_id else None
        perms = cur.permissions if cur is not None and cur.permissions is not None else \
            self.drives[item.drive_id].default_permissions
        return [{"id": p.get("id") or f"p{n}", **p} for n, p in enumerate(perms)]

    def add_group(self, members: list[tuple[str, str]] | None = None, gid: str | None = None) -> str:
        with self.lock:
            gid = gid or str(uuid.uuid4())
            self.groups[gid] = list(members or [])
            return gid

    def add_member(self, gid: str, oid: str, kind: str = "user") -> None:
        with self.lock:
            self.groups[gid].append((kind, oid))

    def remove_member(self, gid: str, oid: str) -> None:
        with self.lock:
            self.groups[gid] = [m for m in self.groups[gid] if m[1] != oid]

    def throttle_next(self, n: int = 1, status: int = 429, retry_after: int = 1, path_contains: str = "/v1.0/") -> None:
        with self.lock:
            self._throttle += [(status, retry_after, path_contains)] * n

    def expire_delta_tokens(self) -> None:
        with self.lock:
            self.epoch += 1

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def fail_download(self, item: Item, status: int = 404) -> None:
        with self.lock:
            self._fail[item.id] = status

    def clear_download_fault(self, item: Item) -> None:
        """The download works again; the item itself is untouched (delta does not report it)."""
        with self.lock:
            self._fail.pop(item.id, None)

    # -- helpers for assertions -----------------------------------------------------------------

    def path_of(self, it: Item) -> str:
        parts = []
        cur: Item | None = it
        while cur is not None and cur.parent_id is not None:
            parts.append(cur.name)
            cur = self.items.get(cur.parent_id)
        return "/".join(reversed(parts))

    def _ancestors(self, it: Item) -> list[Item]:
        out = []
        cur = self.items.get(it.parent_id) if it.parent_id else None
        while cur is not None and cur.parent_id is not None:
            out.append(cur)
            cur = self.items.get(cur.parent_id) if cur.parent_id else None
        return list(reversed(out))

    def _tree(self, root_id: str, children: dict[str, list[Item]] | None = None) -> list[Item]:
        if children is None:
            children = {}
            for c in self.items.values():
                if c.parent_id and not c.deleted:
                    children.setdefault(c.parent_id, []).append(c)
        kids = sorted(children.get(root_id, []), key=lambda c: (not c.folder, c.name))
        return [self.items[root_id], *itertools.chain.from_iterable(self._tree(c.id, children) if c.folder else [c]
                                                                    for c in kids)]

    def live_files(self, drive: Drive | None = None) -> list[Item]:
        with self.lock:
            return [i for i in self.items.values() if not i.folder and not i.deleted
                    and (drive is None or i.drive_id == drive.id)]

    def requested(self, server: str = "graph") -> list[str]:
        with self.lock:
            return [r.path for r in self.requests if r.server == server]
