"""Real local servers for the WebDAV and S3 connector tests (127.0.0.1 only, free ports).

- ``WebDAVServer``: wsgidav (served by cheroot) over a folder, basic auth, mounted where Nextcloud
  mounts a user's files (``/remote.php/dav/files/<user>/``), with wsgidav's in-memory property
  manager (dead properties move with ``MOVE``, which lets a test give files a stable ``oc:fileid``).
  Next to it, at ``/ocs/v2.php/apps/files_sharing/api/v1/shares``, a small app that answers the
  documented Nextcloud OCS share API (``GET ?path=&reshares=true&format=json`` with
  ``OCS-APIRequest: true``) from ``shares``, a table the test edits; and, at
  ``/ocs/v{1,2}.php/cloud/groups/<gid>/users``, the provisioning API's group members from ``groups``
  (``admin``/``subadmin_of`` say what the account may read; others get the documented refusal).
- ``MotoS3Server``: moto's ``ThreadedMotoServer`` (S3 in server mode); ``client()`` is a boto3
  client for the test's own puts and deletes.
- Both are wrapped in ``FaultInjector``, a WSGI middleware that logs every request (the allow-list
  tests assert on it) and can answer the next requests with 429/503 (``fail_next``) or a path with a
  permanent error (``fail_path``): faults of the server, not mocks of the code under test.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

S3_ERROR = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
            "<RequestId>fault-injector</RequestId></Error>")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FaultInjector:
    """WSGI middleware: request log + injected failures (status, headers, body) for the next requests or a path."""

    def __init__(self, app: WsgiApp, *, s3: bool = False) -> None:
        self.app = app
        self.s3 = s3
        self.log: list[tuple[str, str, str]] = []  # (method, unquoted path, query string)
        self.faults: deque[int] = deque()
        self.retry_after = "1"
        self.path_faults: dict[str, int] = {}
        self.lock = threading.Lock()

    def fail_next(self, n: int, status: int = 429, retry_after: str = "1") -> None:
        with self.lock:
            self.faults.extend([status] * n)
            self.retry_after = retry_after

    def fail_path(self, path: str, status: int) -> None:
        """Every request for this exact (unquoted) path answers ``status``."""
        with self.lock:
            self.path_faults[path] = status

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.path_faults.clear()
            self.log.clear()

    def paths(self, method: str | None = None) -> list[str]:
        with self.lock:
            return [p for m, p, _ in self.log if method is None or m == method]

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = urllib.parse.unquote(environ.get("PATH_INFO", ""))
        with self.lock:
            self.log.append((environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", "")))
            status = self.faults.popleft() if self.faults else self.path_faults.get(path)
            retry_after = self.retry_after
        if status is None:
            return self.app(environ, start_response)
        reason = {403: "Forbidden", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "Error")
        headers = [("Retry-After", retry_after)] if status in (429, 503) else []
        if self.s3:
            code = {503: "SlowDown", 429: "TooManyRequests", 404: "NoSuchKey", 403: "AccessDenied"}.get(status, "InternalError")
            body = S3_ERROR.format(code=code, message=reason).encode()
            headers.append(("Content-Type", "application/xml"))
        else:
            body = reason.encode()
            headers.append(("Content-Type", "text/plain"))
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {reason}", headers)
        return [body]


def ocs_share(path: str, share_type: int, share_with: str = "", owner: str = "alice", share_id: int = 1) -> dict[str, Any]:
    """One share as the OCS share API documents it (the fields a client reads)."""
    return {
        "id": str(share_id), "share_type": share_type, "uid_owner": owner, "displayname_owner": owner.title(),
        "permissions": 1, "stime": 1700000000, "parent": None, "expiration": None,
        "token": "Abc123token" if share_type == 3 else None, "uid_file_owner": owner,
        "displayname_file_owner": owner.title(), "path": path, "item_type": "file" if "." in path else "folder",
        "mimetype": "text/plain", "storage_id": f"home::{owner}", "storage": 1, "item_source": 100, "file_source": 100,
        "file_parent": 2, "file_target": path, "share_with": share_with or None,
        "share_with_displayname": share_with or None, "mail_send": 0,
    }


GROUP_USERS = re.compile(r"^/ocs/v([12])\.php/cloud/groups/(.+)/users$")


class OcsShareApp:
    """The documented OCS share endpoint: GET <ocs>/shares?path=/x&reshares=true, JSON with format=json.

    Also the provisioning API's ``GET /ocs/v{1,2}.php/cloud/groups/<gid>/users`` as Nextcloud's
    ``GroupsController::getGroupUsers`` answers it: ``data.users``; an unknown group is
    ``OCSNotFoundException``, an account that is neither admin nor sub-admin of the group gets
    ``OCSForbiddenException`` (v2: HTTP 404/403 with that statuscode; v1: HTTP 200, statuscode 404/403).
    """

    def __init__(self, root: Path, user: str, password: str) -> None:
        self.root = root
        self.user = user
        self.password = password
        self.shares: dict[str, list[dict[str, Any]]] = {}  # "/Folder/file.txt" → shares set on exactly that path
        self.groups: dict[str, set[str]] = {}  # gid → user ids
        self.admin = True  # the account is a Nextcloud admin
        self.subadmin_of: set[str] = set()  # groups it is a sub-admin of (read even when not admin)

    def add(self, path: str, share_type: int, share_with: str = "") -> None:
        path = "/" + path.strip("/")
        share_id = sum(len(v) for v in self.shares.values()) + 1
        self.shares.setdefault(path, []).append(ocs_share(path, share_type, share_with, self.user, share_id))

    @staticmethod
    def _answer(start_response: StartResponse, http: int, code: int, message: str, data: Any) -> list[bytes]:
        ok = code in (100, 200)
        body = json.dumps({"ocs": {"meta": {"status": "ok" if ok else "failure", "statuscode": code,
                                            "message": "OK" if ok else message}, "data": data}}).encode()
        reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(http, "Error")
        start_response(f"{http} {reason}", [("Content-Type", "application/json; charset=utf-8"),
                                             ("Content-Length", str(len(body)))])
        return [body]

    def _group_users(self, start_response: StartResponse, version: str, raw_gid: str, query: str) -> list[bytes]:
        if urllib.parse.parse_qs(query).get("format") != ["json"]:  # XML otherwise: not what the client reads
            body = b'<?xml version="1.0"?><ocs><meta><statuscode>100</statuscode></meta></ocs>'
            start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
            return [body]
        # WSGI hands the decoded path as latin-1; getGroupUsers then urldecode()s the route's groupId
        gid = urllib.parse.unquote_plus(raw_gid.encode("latin-1").decode("utf-8", "replace"))
        v1 = version == "1"
        if gid not in self.groups:
            return self._answer(start_response, 200 if v1 else 404, 404, "The requested group could not be found", [])
        if not (self.admin or gid in self.subadmin_of):
            return self._answer(start_response, 200 if v1 else 403, 403, "", [])
        return self._answer(start_response, 200, 100 if v1 else 200, "OK", {"users": sorted(self.groups[gid])})

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        import base64

        auth = environ.get("HTTP_AUTHORIZATION", "")
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if auth != expected:
            return self._answer(start_response, 401, 997, "Current user is not logged in", [])
        if environ.get("HTTP_OCS_APIREQUEST") != "true":
            return self._answer(start_response, 401, 997, "CSRF check failed", [])
        route = GROUP_USERS.match(environ.get("PATH_INFO", ""))
        if route:
            return self._group_users(start_response, route.group(1), route.group(2), environ.get("QUERY_STRING", ""))
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        path = "/" + query.get("path", [""])[0].strip("/")
        if not (self.root / path.lstrip("/")).exists():
            return self._answer(start_response, 404, 404, "Wrong path, file/folder doesn't exist", [])
        return self._answer(start_response, 200, 200, "OK", list(self.shares.get(path, [])))


class WebDAVServer:
    """wsgidav + the OCS fake on one cheroot server; use as a context manager."""

    def __init__(self, root: Path, user: str = "alice", password: str = "webdav-pw-7Kq2", *, mount: str | None = None) -> None:
        self.root = root
        self.user = user
        self.password = password
        self.mount = mount if mount is not None else f"/remote.php/dav/files/{user}"
        self.ocs = OcsShareApp(root, user, password)
        self.faults: FaultInjector | None = None
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.mount}/"

    @property
    def ocs_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ocs/v2.php/apps/files_sharing/api/v1/shares"

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def _app(self) -> WsgiApp:
        from wsgidav.fs_dav_provider import FilesystemProvider
        from wsgidav.wsgidav_app import WsgiDAVApp

        config = {
            "host": "127.0.0.1", "port": self.port,
            "provider_mapping": {self.mount: FilesystemProvider(str(self.root))},
            "simple_dc": {"user_mapping": {"*": {self.user: {"password": self.password}}}},
            "http_authenticator": {"accept_basic": True, "accept_digest": False, "default_to_digest": False},
            "property_manager": True, "lock_storage": True, "verbose": 0,
            "dir_browser": {"enable": False}, "logging": {"enable": False},
        }
        dav = WsgiDAVApp(config)
        ocs = self.ocs

        def dispatch(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
            if environ.get("PATH_INFO", "").startswith("/ocs/"):
                return ocs(environ, start_response)
            return dav(environ, start_response)

        return dispatch

    def __enter__(self) -> WebDAVServer:
        from cheroot import wsgi

        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.faults = FaultInjector(self._app())
        self._server = wsgi.Server(("127.0.0.1", self.port), self.faults, numthreads=8)
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def dav(self, method: str, rel: str, **kwargs: Any) -> Any:
        """A request to the server as the test's own WebDAV client (MOVE, PROPPATCH...)."""
        import httpx

        url = self.base_url + urllib.parse.quote(rel.strip("/"))
        with httpx.Client(auth=(self.user, self.password), timeout=10) as client:
            return client.request(method, url, **kwargs)

    def move(self, src: str, dst: str) -> None:
        resp = self.dav("MOVE", src, headers={"Destination": self.base_url + urllib.parse.quote(dst), "Overwrite": "T"})
        assert resp.status_code in (201, 204), resp.status_code

    def set_prop(self, rel: str, name: str, value: str) -> None:
        """Store an ``oc:`` property on a file (PROPPATCH), as Nextcloud reports ``oc:fileid``/``oc:owner-id``."""
        body = ('<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
                f"<d:set><d:prop><oc:{name}>{value}</oc:{name}></d:prop></d:set></d:propertyupdate>")
        resp = self.dav("PROPPATCH", rel, content=body.encode(), headers={"Content-Type": "application/xml"})
        assert resp.status_code == 207 and "200" in resp.text, resp.text

    def set_fileid(self, rel: str, fileid: int) -> None:
        self.set_prop(rel, "fileid", str(fileid))


class MotoS3Server:
    """moto's ThreadedMotoServer, with every request passing through a ``FaultInjector``."""

    def __init__(self) -> None:
        self.faults: FaultInjector | None = None
        self._server: Any = None
        self._client: Any = None
        self.endpoint_url = ""

    def __enter__(self) -> MotoS3Server:
        from moto.server import ThreadedMotoServer

        injector_holder = self

        class _Server(ThreadedMotoServer):
            def _server_entry(self) -> None:  # ThreadedMotoServer's own entry, with the middleware around the app
                from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
                from werkzeug.serving import make_server

                class _QuietHandler(MotoRequestHandler):
                    def log_request(self, *args: Any, **kwargs: Any) -> None:  # no access log on stderr
                        pass

                injector_holder.faults = FaultInjector(DomainDispatcherApplication(create_backend_app), s3=True)
                self._server = make_server(self._ip_address, self._port, injector_holder.faults, True,
                                           request_handler=_QuietHandler)
                self._server_ready_event.set()
                self._server.serve_forever()

        self._server = _Server(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
        self._server.stop()

    def client(self) -> Any:
        """One boto3 client for the test's own writes (made once: creating a client takes a while)."""
        if self._client is None:
            import boto3

            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                aws_access_key_id="testing-key", aws_secret_access_key="testing-secret")
        return self._client


@contextlib.contextmanager
def iam_enforced() -> Iterator[None]:
    """moto checks credentials (unknown access keys → InvalidAccessKeyId) inside this block."""
    from moto.core.authorization import enable_iam_authentication

    with enable_iam_authentication():
        yield
