"""A local fake of the Google APIs the Drive connector uses, following their public documentation.

Served on 127.0.0.1 by a ``ThreadingHTTPServer`` in a thread:

- ``POST /token``: the OAuth 2.0 service-account flow; the JWT assertion is verified with the test
  service account's public key (RS256, ``aud`` = the token URI, ``iss`` = ``client_email``) and its
  ``sub`` must be a known user; scopes outside ``authorized_scopes`` (domain-wide delegation) are
  refused with ``401 unauthorized_client``, a bad signature with ``400 invalid_grant``.
- Drive v3 (bearer token required): ``about``, ``drives/{id}``, ``changes/startPageToken``,
  ``changes`` (coalesced per file, paged by ``nextPageToken``, ending with ``newStartPageToken``;
  an unknown or expired token is ``400 Invalid Value`` on ``pageToken``), ``files`` (``corpora``
  user/drive, a ``q`` subset: ``trashed=false``, ``'<id>' in parents``, ``'me' in owners``),
  ``files/{id}`` (metadata or ``alt=media``), ``files/{id}/export`` (DOCX/XLSX/PPTX generated with
  python-docx/openpyxl/python-pptx; over ``export_limit`` → ``403 exportSizeLimitExceeded``),
  ``files/{id}/permissions`` (paged; shared-drive items list the drive's members as inherited).
  Shared-drive items carry no ``permissions`` in file resources, as documented.
- Admin SDK Directory: ``groups/{key}/members`` (paged; members of type USER or GROUP).

Test controls: ``throttle_next(n, status)`` (429 with ``Retry-After``, 503, or 403
``rateLimitExceeded``/``userRateLimitExceeded`` with the documented error body), ``expire_tokens()``,
``fail_download(id, status)``, ``vanish(id)`` (a deletion the change feed never reports), ``page_size``,
``export_limit``, ``authorized_scopes`` and the ``requests`` log (method, path, query, impersonated user).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import itertools
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt

DOC = "application/vnd.google-apps.document"
SHEET = "application/vnd.google-apps.spreadsheet"
SLIDES = "application/vnd.google-apps.presentation"
FOLDER = "application/vnd.google-apps.folder"
FORM = "application/vnd.google-apps.form"
SHORTCUT = "application/vnd.google-apps.shortcut"
NATIVE = {"doc": DOC, "sheet": SHEET, "slides": SLIDES, "form": FORM, "shortcut": SHORTCUT}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DRIVE_SCOPES = {"https://www.googleapis.com/auth/drive", "https://www.googleapis.com/auth/drive.readonly"}
DIRECTORY_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.member.readonly"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def user(email: str, role: str = "reader") -> dict[str, Any]:
    return {"type": "user", "emailAddress": email, "role": role}


def group(email: str, role: str = "reader") -> dict[str, Any]:
    return {"type": "group", "emailAddress": email, "role": role}


def domain(name: str, role: str = "reader") -> dict[str, Any]:
    return {"type": "domain", "domain": name, "role": role}


def anyone(role: str = "reader") -> dict[str, Any]:
    return {"type": "anyone", "role": role}


def error_body(code: int, message: str, reason: str, *, domain_: str = "global", location: str = "",
               status: str = "") -> dict[str, Any]:
    err: dict[str, Any] = {"domain": domain_, "reason": reason, "message": message}
    if location:
        err.update(location=location, locationType="parameter")
    body: dict[str, Any] = {"code": code, "message": message, "errors": [err]}
    if status:
        body["status"] = status
    return {"error": body}


@dataclass
class FFile:
    id: str
    name: str
    mime: str
    parents: list[str]
    drive: str | None
    owner: str | None
    data: bytes = b""
    text: str = ""
    trashed: bool = False
    version: int = 1
    modified: dt.datetime = EPOCH
    perms: list[dict[str, Any]] = field(default_factory=list)


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class FakeGoogle:
    def __init__(self, client_email: str, public_key: Any, users: list[str], *, domain_name: str = "example.com") -> None:
        self.client_email = client_email
        self.public_key = public_key
        self.domain = domain_name
        self.users = {u.lower() for u in users}
        self.drives: dict[str, dict[str, Any]] = {}
        self.files: dict[str, FFile] = {}
        self.groups: dict[str, list[str]] = {}
        self.log: list[tuple[int, str, frozenset[str]]] = []
        self.seq = 1
        self.min_token = 1
        self.generation = 0
        self.page_size = 100
        self.export_limit = 10 * 1024 * 1024
        self.authorized_scopes = set(DRIVE_SCOPES) | {DIRECTORY_SCOPE}
        self.tokens: dict[str, tuple[str, set[str], float]] = {}
        self.token_requests = 0
        self.requests: list[dict[str, Any]] = []
        self.throttles: list[tuple[int, str]] = []
        self.failures: dict[str, int] = {}
        self._exports: dict[tuple[str, int], bytes] = {}
        self._ids = itertools.count(1)
        self.lock = threading.RLock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.token_uri = f"{self.url}/token"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGoogle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # model edits (tests call these) -----------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):05d}"

    def _access(self, f: FFile, who: str) -> bool:
        if f.drive is not None:
            return self._member(self.drives[f.drive]["members"], who) or self._member(f.perms, who)
        return f.owner == who or self._member(f.perms, who)

    def _expand(self, grp: str, seen: set[str] | None = None) -> set[str]:
        seen = seen if seen is not None else set()
        if grp in seen:
            return set()
        seen.add(grp)
        out: set[str] = set()
        for m in self.groups.get(grp, []):
            out |= self._expand(m, seen) if m in self.groups else {m}
        return out

    def _member(self, perms: list[dict[str, Any]], who: str) -> bool:
        for p in perms:
            if p["type"] == "user" and p["emailAddress"].lower() == who:
                return True
            if p["type"] == "group" and who in self._expand(p["emailAddress"].lower()):
                return True
            if p["type"] == "domain" and who.endswith("@" + p["domain"]):
                return True
        return False

    def _scopes(self, f: FFile) -> set[str]:
        if f.drive is not None:
            return {f"d:{f.drive}"}
        return {f"u:{u}" for u in self.users if self._access(f, u)}

    def _touch(self, f: FFile, before: set[str], *, content: bool = False) -> None:
        f.version += 1
        if content:
            f.modified = EPOCH + dt.timedelta(seconds=self.seq)
        self.log.append((self.seq, f.id, frozenset(before | self._scopes(f))))
        self.seq += 1

    def add_drive(self, drive_id: str, name: str, members: list[dict[str, Any]]) -> str:
        with self.lock:
            self.drives[drive_id] = {"name": name, "members": [dict(m) for m in members]}
        return drive_id

    def set_drive_members(self, drive_id: str, members: list[dict[str, Any]]) -> None:
        with self.lock:  # like Drive: a membership change creates no file change
            self.drives[drive_id]["members"] = [dict(m) for m in members]

    def add_file(self, name: str, data: bytes | str = b"", *, parent: str | None = None, drive: str | None = None,
                 owner: str | None = None, native: str = "", perms: list[dict[str, Any]] | None = None,
                 mime: str = "application/octet-stream", file_id: str | None = None) -> str:
        with self.lock:
            if parent is not None:
                drive = self.files[parent].drive
                owner = None if drive else (owner or self.files[parent].owner)
            if drive is None and owner is None:
                raise ValueError("a file lives in a shared drive or in someone's My Drive")
            fid = file_id or self._new_id("f")
            text = data if isinstance(data, str) and native else ""
            raw = b"" if native else (data.encode() if isinstance(data, str) else data)
            f = FFile(fid, name, NATIVE.get(native, FOLDER if native == "folder" else mime),
                      [parent or (drive if drive else f"root-{owner}")], drive, None if drive else owner,
                      raw, text, perms=[dict(p) for p in perms or []])
            self.files[fid] = f
            self._touch(f, set(), content=True)
            return fid

    def add_folder(self, name: str, **kw: Any) -> str:
        return self.add_file(name, native="folder", **kw)

    def update_file(self, fid: str, data: bytes | str | None = None, *, name: str | None = None) -> None:
        with self.lock:
            f = self.files[fid]
            before = self._scopes(f)
            if name is not None:
                f.name = name
            if data is not None:
                if f.mime in (DOC, SHEET, SLIDES):
                    f.text = data if isinstance(data, str) else data.decode()
                else:
                    f.data = data.encode() if isinstance(data, str) else data
            self._touch(f, before, content=data is not None)

    def _descendants(self, fid: str) -> list[FFile]:
        out, queue = [], [fid]
        while queue:
            cur = queue.pop(0)
            for f in self.files.values():
                if cur in f.parents:
                    out.append(f)
                    queue.append(f.id)
        return out

    def trash(self, fid: str, trashed: bool = True) -> None:
        with self.lock:  # like Drive: trashing a folder trashes everything inside it
            for f in [self.files[fid], *self._descendants(fid)]:
                before = self._scopes(f)
                f.trashed = trashed
                self._touch(f, before)

    def delete(self, fid: str) -> None:
        with self.lock:
            for f in [self.files[fid], *self._descendants(fid)]:
                before = self._scopes(f)
                del self.files[f.id]
                self.log.append((self.seq, f.id, frozenset(before)))
                self.seq += 1

    def vanish(self, fid: str) -> None:
        """Remove a file without a trace in the change log: a deletion the change feed misses."""
        with self.lock:
            del self.files[fid]

    def move(self, fid: str, new_parent: str) -> None:
        with self.lock:
            f, target = self.files[fid], self.files.get(new_parent)
            drive = target.drive if target else (new_parent if new_parent in self.drives else None)
            moved = [f] if drive == f.drive else [f, *self._descendants(fid)]
            for g in moved:
                before = self._scopes(g)
                if g is f:
                    g.parents = [new_parent]
                if drive != g.drive:
                    g.owner = None if drive else (target.owner if target else g.owner)
                    g.drive = drive
                self._touch(g, before)

    def set_permissions(self, fid: str, perms: list[dict[str, Any]]) -> None:
        with self.lock:
            f = self.files[fid]
            before = self._scopes(f)
            f.perms = [dict(p) for p in perms]
            self._touch(f, before)

    def add_group(self, email: str, members: list[str]) -> None:
        with self.lock:
            self.groups[email.lower()] = [m.lower() for m in members]

    def add_member(self, grp: str, email: str) -> None:
        with self.lock:
            self.groups[grp].append(email.lower())

    def remove_member(self, grp: str, email: str) -> None:
        with self.lock:
            self.groups[grp].remove(email.lower())

    def throttle_next(self, n: int, status: int = 429, reason: str = "rateLimitExceeded") -> None:
        with self.lock:
            self.throttles.extend([(status, reason)] * n)

    def expire_tokens(self) -> None:
        """Every page token given out so far (changes and listings) becomes invalid."""
        with self.lock:
            self.seq += 1
            self.min_token = self.seq
            self.generation += 1

    def fail_download(self, fid: str, status: int) -> None:
        self.failures[fid] = status

    def paths(self, method: str = "GET") -> list[str]:
        return [r["path"] for r in self.requests if r["method"] == method]

    # resources --------------------------------------------------------------------------------
    def _perm(self, p: dict[str, Any], **extra: Any) -> dict[str, Any]:
        key = p.get("emailAddress") or p.get("domain") or "anyoneWithLink"
        out = {"kind": "drive#permission", "id": hashlib.sha1(key.encode()).hexdigest()[:20] if key != "anyoneWithLink"
               else key, **p, **extra}
        if p["type"] in ("domain", "anyone"):
            out.setdefault("allowFileDiscovery", False)
        return out

    def _file_perms(self, f: FFile) -> list[dict[str, Any]]:
        if f.drive is None:
            return [self._perm(user(f.owner or "", "owner")), *(self._perm(p) for p in f.perms)]
        drive = self.drives[f.drive]
        inherited = [self._perm(m, permissionDetails=[{"permissionType": "member", "role": m["role"], "inherited": True,
                                                       "inheritedFrom": f.drive}]) for m in drive["members"]]
        own = [self._perm(p, permissionDetails=[{"permissionType": "file", "role": p["role"], "inherited": False}])
               for p in f.perms]
        return inherited + own

    def _resource(self, f: FFile, who: str, fields: str) -> dict[str, Any]:
        r: dict[str, Any] = {"kind": "drive#file", "id": f.id, "name": f.name, "mimeType": f.mime, "parents": f.parents,
                             "trashed": f.trashed, "version": str(f.version),
                             "modifiedTime": f.modified.isoformat().replace("+00:00", ".000Z"),
                             "webViewLink": f"https://drive.google.com/file/d/{f.id}/view"}
        if f.mime not in NATIVE.values() and f.mime != FOLDER:
            r.update(md5Checksum=hashlib.md5(f.data).hexdigest(), size=str(len(f.data)))
        if f.drive is not None:
            r["driveId"] = f.drive
        else:
            r["owners"] = [{"kind": "drive#user", "emailAddress": f.owner, "me": f.owner == who}]
            r["ownedByMe"] = f.owner == who
            if "permissions" in fields and (f.owner == who or any(p.get("emailAddress") == who and p["role"] != "reader"
                                                                  for p in f.perms)):
                r["permissions"] = self._file_perms(f)
        return r

    def _export(self, f: FFile) -> bytes:
        key = (f.id, f.version)
        if key not in self._exports:
            buf = io.BytesIO()
            if f.mime == DOC:
                import docx

                d = docx.Document()
                d.core_properties.created = d.core_properties.modified = EPOCH.replace(tzinfo=None)
                for line in f.text.splitlines() or [""]:
                    d.add_paragraph(line)
                d.save(buf)
            elif f.mime == SHEET:
                import openpyxl

                wb = openpyxl.Workbook()
                for line in f.text.splitlines():
                    wb.active.append(line.split(","))
                wb.save(buf)
            else:
                import pptx

                prs = pptx.Presentation()
                for line in f.text.splitlines():
                    slide = prs.slides.add_slide(prs.slide_layouts[5])
                    slide.shapes.title.text = line
                prs.save(buf)
            self._exports[key] = buf.getvalue()
        return self._exports[key]

    # HTTP -------------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes | dict[str, Any], ctype: str = "application/json",
                      headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if isinstance(body, dict) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _dispatch(self, method: str) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    status, out, ctype, headers = fake.handle(method, url.path, query, body,
                                                              self.headers.get("Authorization", ""))
                except ApiError as exc:
                    status, out, ctype, headers = exc.status, exc.body, "application/json", exc.headers
                self._send(status, out, ctype, headers)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

        return Handler

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes,
               auth: str) -> tuple[int, bytes | dict[str, Any], str, dict[str, str]]:
        if method == "POST" and path == "/token":
            with self.lock:
                self.requests.append({"method": method, "path": path, "query": {}, "subject": ""})
            return self._token(dict(urllib.parse.parse_qsl(body.decode())))
        with self.lock:
            token = self.tokens.get(auth.removeprefix("Bearer ").strip())
            who = token[0] if token and token[2] > time.time() else ""
            self.requests.append({"method": method, "path": path, "query": query, "subject": who})
            if self.throttles:
                status, reason = self.throttles.pop(0)
                if status == 403:
                    msg = "User Rate Limit Exceeded" if reason.startswith("user") else "Rate Limit Exceeded"
                    raise ApiError(403, error_body(403, msg, reason, domain_="usageLimits"))
                raise ApiError(status, error_body(status, "Too Many Requests" if status == 429 else "Backend Error",
                                                  "rateLimitExceeded" if status == 429 else "backendError"),
                               {"Retry-After": "1"})
            if not who:
                raise ApiError(401, error_body(401, "Request had invalid authentication credentials.", "authError",
                                               location="Authorization", status="UNAUTHENTICATED"))
            assert token is not None
            need = {DIRECTORY_SCOPE} if path.startswith("/admin/") else DRIVE_SCOPES
            if not need & token[1]:
                raise ApiError(403, error_body(403, "Request had insufficient authentication scopes.",
                                               "insufficientPermissions", status="PERMISSION_DENIED"))
            return self._api(path, query, who)

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any], str, dict[str, str]]:
        self.token_requests += 1
        if form.get("grant_type") != JWT_GRANT:
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, "application/json", {}
        try:
            claims = jwt.decode(form.get("assertion", ""), self.public_key, algorithms=["RS256"], audience=self.token_uri,
                                options={"require": ["exp", "iat", "iss", "aud", "sub", "scope"]})
        except jwt.InvalidSignatureError:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, "application/json", {}
        except jwt.PyJWTError as exc:
            return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}, "application/json", {}
        if claims["iss"] != self.client_email:
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}, \
                "application/json", {}
        if claims["sub"].lower() not in self.users:
            return 400, {"error": "invalid_grant", "error_description": "Invalid email or User ID"}, "application/json", {}
        scopes = set(str(claims["scope"]).split())
        if not scopes or not scopes <= self.authorized_scopes:
            return 401, {"error": "unauthorized_client", "error_description": "Client is unauthorized to retrieve access "
                         "tokens using this method, or client not authorized for any of the scopes requested."}, \
                "application/json", {}
        access = "ya29." + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[access] = (claims["sub"].lower(), scopes, time.time() + 3599)
        return 200, {"access_token": access, "expires_in": 3599, "token_type": "Bearer"}, "application/json", {}

    # API routes -------------------------------------------------------------------------------
    def _not_found(self, fid: str) -> ApiError:
        return ApiError(404, error_body(404, f"File not found: {fid}.", "notFound", location="fileId"))

    def _visible(self, fid: str, who: str, query: dict[str, str]) -> FFile:
        f = self.files.get(fid)
        if f is None or not self._access(f, who) or (f.drive and query.get("supportsAllDrives") != "true"):
            raise self._not_found(fid)
        return f

    def _page(self, items: list[Any], query: dict[str, str], key: str, kind: str,
              sort_key: Any = None) -> tuple[list[Any], str | None]:
        """One page of ``items`` (sorted by ``sort_key``); the token names the last key returned (keyset paging,
        so additions and deletions between pages neither skip nor repeat an item)."""
        size = min(int(query.get("pageSize") or query.get("maxResults") or 100), self.page_size)
        skey = sort_key or (lambda it: json.dumps(it, sort_keys=True))
        items = sorted(items, key=skey)
        start = 0
        if query.get("pageToken"):
            try:
                tok = json.loads(base64.urlsafe_b64decode(query["pageToken"].encode()))
                assert tok["k"] == key and tok["g"] == self.generation and tok["t"] == kind
                start = next((i for i, it in enumerate(items) if skey(it) > tok["after"]), len(items))
            except Exception:
                raise ApiError(400, error_body(400, "Invalid Value", "invalid", location="pageToken")) from None
        page = items[start:start + size]
        nxt = None
        if start + size < len(items):
            nxt = base64.urlsafe_b64encode(json.dumps({"k": key, "g": self.generation, "t": kind,
                                                       "after": skey(page[-1])}).encode()).decode()
        return page, nxt

    def _api(self, path: str, query: dict[str, str], who: str) -> tuple[int, bytes | dict[str, Any], str, dict[str, str]]:
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        j = "application/json"
        if parts[:2] == ["admin", "directory"] and len(parts) == 6 and parts[5] == "members":
            return 200, self._members(parts[4], query), j, {}
        if parts[:2] != ["drive", "v3"]:
            raise ApiError(404, error_body(404, "Not Found", "notFound"))
        rest = parts[2:]
        if rest == ["about"]:
            return 200, {"kind": "drive#about", "user": {"kind": "drive#user", "emailAddress": who}}, j, {}
        if len(rest) == 2 and rest[0] == "drives":
            d = self.drives.get(rest[1])
            if d is None or not self._member(d["members"], who):
                raise ApiError(404, error_body(404, f"Shared drive not found: {rest[1]}", "notFound", location="driveId"))
            return 200, {"kind": "drive#drive", "id": rest[1], "name": d["name"]}, j, {}
        if rest == ["changes", "startPageToken"]:
            self._check_drive(query, who)
            return 200, {"kind": "drive#startPageToken", "startPageToken": str(self.seq)}, j, {}
        if rest == ["changes"]:
            return 200, self._changes(query, who), j, {}
        if rest == ["files"]:
            return 200, self._list(query, who), j, {}
        if len(rest) == 2 and rest[0] == "files":
            f = self._visible(rest[1], who, query)
            if query.get("alt") != "media":
                return 200, self._resource(f, who, query.get("fields", "")), j, {}
            if f.id in self.failures:
                st = self.failures[f.id]
                raise ApiError(st, error_body(st, "The user does not have sufficient permissions for this file."
                                              if st == 403 else f"File not found: {f.id}.",
                                              "insufficientFilePermissions" if st == 403 else "notFound"))
            if f.mime.startswith("application/vnd.google-apps."):
                raise ApiError(403, error_body(403, "Only files with binary content can be downloaded. Use Export with "
                                               "Docs Editors files.", "fileNotDownloadable", location="alt"))
            return 200, f.data, f.mime, {}
        if len(rest) == 3 and rest[0] == "files" and rest[2] == "export":
            ff = self.files.get(rest[1])
            if ff is None or not self._access(ff, who):
                raise self._not_found(rest[1])
            f = ff
            wanted = {DOC: DOCX, SHEET: XLSX, SLIDES: PPTX}.get(f.mime)
            if wanted is None or query.get("mimeType") != wanted:
                raise ApiError(400, error_body(400, "The requested conversion is not supported.", "badRequest",
                                               location="mimeType"))
            if f.id in self.failures:
                raise self._not_found(f.id)
            data = self._export(f)
            if len(data) > self.export_limit:
                raise ApiError(403, error_body(403, "This file is too large to be exported.", "exportSizeLimitExceeded"))
            return 200, data, wanted, {}
        if len(rest) == 3 and rest[0] == "files" and rest[2] == "permissions":
            if rest[1] in self.drives:
                d = self.drives[rest[1]]
                if query.get("supportsAllDrives") != "true" or not self._member(d["members"], who):
                    raise self._not_found(rest[1])
                perms = [self._perm(m, permissionDetails=[{"permissionType": "member", "role": m["role"],
                                                           "inherited": False}]) for m in d["members"]]
            else:
                perms = self._file_perms(self._visible(rest[1], who, query))
            page, nxt = self._page(perms, query, rest[1], "perms", sort_key=lambda p: p["id"])
            out: dict[str, Any] = {"kind": "drive#permissionList", "permissions": page}
            if nxt:
                out["nextPageToken"] = nxt
            return 200, out, j, {}
        raise ApiError(404, error_body(404, "Not Found", "notFound"))

    def _check_drive(self, query: dict[str, str], who: str) -> str | None:
        drive = query.get("driveId")
        if drive is None:
            return None
        if query.get("supportsAllDrives") != "true":
            raise ApiError(403, error_body(403, "The supportsAllDrives parameter must be set to true.", "teamDrivesParameter"
                                           "Required", location="supportsAllDrives"))
        d = self.drives.get(drive)
        if d is None or not self._member(d["members"], who):
            raise ApiError(404, error_body(404, f"Shared drive not found: {drive}", "notFound", location="driveId"))
        return drive

    def _changes(self, query: dict[str, str], who: str) -> dict[str, Any]:
        drive = self._check_drive(query, who)
        if drive and query.get("includeItemsFromAllDrives") != "true":
            raise ApiError(400, error_body(400, "includeItemsFromAllDrives must be set when driveId is set.",
                                           "invalid", location="includeItemsFromAllDrives"))
        try:
            start = int(query.get("pageToken", ""))
            assert self.min_token <= start <= self.seq
        except (ValueError, AssertionError):
            raise ApiError(400, error_body(400, "Invalid Value", "invalid", location="pageToken")) from None
        key = f"d:{drive}" if drive else f"u:{who}"
        latest: dict[str, int] = {}
        for seq, fid, scopes in self.log:
            if seq >= start and key in scopes:
                latest[fid] = seq
        ordered = sorted(latest.items(), key=lambda kv: kv[1])
        size = min(int(query.get("pageSize") or 100), self.page_size)
        page = ordered[:size]
        changes = []
        for fid, seq in page:
            f = self.files.get(fid)
            gone = f is None or (f.drive != drive if drive else (f.drive is not None or not self._access(f, who)))
            ch: dict[str, Any] = {"kind": "drive#change", "changeType": "file", "fileId": fid, "removed": gone,
                                  "time": (EPOCH + dt.timedelta(seconds=seq)).isoformat().replace("+00:00", ".000Z")}
            if not gone and f is not None:
                ch["file"] = self._resource(f, who, query.get("fields", ""))
            changes.append(ch)
        out: dict[str, Any] = {"kind": "drive#changeList", "changes": changes}
        if len(ordered) > size:
            out["nextPageToken"] = str(page[-1][1] + 1)
        else:
            out["newStartPageToken"] = str(self.seq)
        return out

    def _list(self, query: dict[str, str], who: str) -> dict[str, Any]:
        corpora = query.get("corpora", "user")
        if corpora == "drive":
            drive = self._check_drive(query, who)
            if drive is None or query.get("includeItemsFromAllDrives") != "true":
                raise ApiError(400, error_body(400, "The driveId and includeItemsFromAllDrives parameters are required "
                                               "with corpora=drive.", "invalid", location="corpora"))
            files = [f for f in self.files.values() if f.drive == drive]
        elif corpora == "user":
            files = [f for f in self.files.values() if f.drive is None and self._access(f, who)]
        else:
            raise ApiError(400, error_body(400, "Invalid Value", "invalid", location="corpora"))
        for term in [t.strip() for t in query.get("q", "").split(" and ") if t.strip()]:
            if term.replace(" ", "") == "trashed=false":
                files = [f for f in files if not f.trashed]
            elif term == "'me' in owners":
                files = [f for f in files if f.owner == who]
            elif term.endswith(" in parents") and term.startswith("'"):
                parent = term[1:term.index("'", 1)]
                files = [f for f in files if parent in f.parents]
            else:
                raise ApiError(400, error_body(400, "Invalid Value", "invalid", location="q"))
        page, nxt = self._page(files, query, json.dumps([corpora, query.get("driveId"), query.get("q")]), "files",
                               sort_key=lambda f: f.id)
        out: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False,
                               "files": [self._resource(f, who, query.get("fields", "")) for f in page]}
        if nxt:
            out["nextPageToken"] = nxt
        return out

    def _members(self, key: str, query: dict[str, str]) -> dict[str, Any]:
        grp = key.lower()
        if grp not in self.groups:
            raise ApiError(404, error_body(404, "Resource Not Found: groupKey", "notFound"))
        members = [{"kind": "admin#directory#member", "id": hashlib.sha1(m.encode()).hexdigest()[:21], "email": m,
                    "role": "MEMBER", "type": "GROUP" if m in self.groups else "USER", "status": "ACTIVE"}
                   for m in self.groups[grp]]
        page, nxt = self._page(members, query, grp, "members", sort_key=lambda m: m["email"])
        out: dict[str, Any] = {"kind": "admin#directory#members", "members": page}
        if nxt:
            out["nextPageToken"] = nxt
        return out
