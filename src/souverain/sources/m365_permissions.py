"""Access for the Microsoft 365 connector (``m365.py``): the app's token, item permissions, the folder scope.

Token (``AppToken``): OAuth 2.0 client credentials. For an ``https`` authority MSAL is used (the
``m365`` extra), its HTTP routed through ``ctx.http``; MSAL refuses non-https authorities, so for a
plain-``http`` loopback authority (the local test double) the documented request is sent directly:
``POST {authority}/{tenant}/oauth2/v2.0/token`` with ``grant_type=client_credentials``. Tokens
are reused until five minutes before ``expires_in``; ``get(force=True)`` fetches a new one (after
a ``401`` from Graph). The client secret is read when needed and never logged or put in errors.

Download (``download``): the pre-authenticated URL Graph redirects ``/content`` to is fetched
without the Authorization header, streamed and cut at the size limit, with the same retries as
``ctx.http`` (whose ``request`` reads whole bodies, so it cannot cap a stream).

Scope (``Scope``, ``delta_changes``): turns one Graph delta page into ``Change`` objects. With
``folders`` set, folder items are remembered as ``id → [name, parent-id]`` (the ``tree`` kept in the
cursor) because delta omits ``parentReference.path``; a file's path is rebuilt from it and a file
outside the folders is a deletion (or, during a full pass, simply not listed). A folder whose path
changes across a ``folders`` boundary raises ``ResyncRequired``: delta does not list the
descendants of a moved folder, so only a full pass can add or remove them. Without ``folders``
the path shown is taken from ``parentReference.path`` where Graph sends it.

Permissions. Input: the ``permission`` objects of ``GET /drives/{drive-id}/items/{item-id}/permissions``
(https://learn.microsoft.com/graph/api/resources/permission). Mapping:

- Only permissions whose ``roles`` include ``read``, ``write`` or ``owner`` count (write and owner
  imply read). Anything else (``sp.view only``-style restricted roles, no roles at all) is ignored.
- Identities come from ``grantedToV2`` and ``grantedToIdentitiesV2`` (``sharePointIdentitySet``);
  only when neither V2 property is present are the deprecated ``grantedTo`` / ``grantedToIdentities``
  read. Per identity set: ``user.id`` (the Entra object id) → ``ext:m365:<id>``; ``group.id``
  (an Entra / Microsoft 365 group) → ``ext:m365:group:<id>`` (its members are synced through
  ``/groups/{id}/transitiveMembers``); ``siteGroup.id`` (a SharePoint site group such as
  "HR Members", whose id is only unique inside its site) → ``ext:m365:sitegroup:<site-id>:<id>``
  when the site is known. Graph v1.0 has no API that lists the members of a SharePoint site group,
  so nobody holds such a principal until an administrator links it by hand; a ``siteUser`` without
  a ``user``, ``application`` and ``device`` identities are ignored.
- Sharing links: ``link.scope == "anonymous"`` → ``public``; ``"organization"`` →
  ``ext:m365:tenant:<tenant-id>`` (give that principal to every user of the tenant);
  ``"users"`` (or no scope) → the identities listed in ``grantedToIdentitiesV2``;
  ``"existingAccess"`` grants nothing by itself.
- Pending invitations (an ``invitation`` with no redeemed identity yet) grant nothing.

An item's principals are the union over its permissions; an empty result means nobody sees it.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from .base import Change, ItemError, ResyncRequired, SourceError, SourceItem
from .http import ResponseTooLarge

# -- token ------------------------------------------------------------------------------------------


class _MsalHttp:
    """MSAL's ``http_client`` interface on top of ``ctx.http`` (same retries, no second client)."""

    def __init__(self, http: Any) -> None:
        self.http = http

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **_: Any) -> httpx.Response:
        return self.http.post(url, params=params, data=data, headers=headers)

    def get(self, url: str, params: Any = None, headers: Any = None, **_: Any) -> httpx.Response:
        return self.http.get(url, params=params, headers=headers)

    def close(self) -> None:  # ctx.http belongs to the runner
        pass


class AppToken:
    def __init__(self, http: Any, authority_url: str, tenant_id: str, client_id: str, secret: Callable[[], str],
                 scope: str) -> None:
        self.http = http
        self.authority_url = authority_url
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.secret = secret
        self.scope = scope
        self._lock = threading.Lock()
        self._token = ""
        self._until = 0.0
        self._msal: Any = None

    def get(self, force: bool = False) -> str:
        with self._lock:
            if force or not self._token or time.monotonic() >= self._until:
                self._token, lifetime = self._acquire(force)
                self._until = time.monotonic() + max(30.0, lifetime - 300.0)
            return self._token

    def _acquire(self, force: bool) -> tuple[str, float]:
        if httpx.URL(self.authority_url).scheme == "https":
            try:
                import msal
            except ImportError:
                raise SourceError("missing_extra", "pip install 'souverain[m365]'") from None
            if self._msal is None or force:  # a fresh app drops MSAL's cached (rejected) token
                try:
                    self._msal = msal.ConfidentialClientApplication(
                        self.client_id, client_credential=self.secret(), http_client=_MsalHttp(self.http),
                        authority=f"{self.authority_url}/{self.tenant_id}", instance_discovery=False)
                except ValueError as exc:
                    raise SourceError("auth_failed", f"Microsoft Entra tenant {self.tenant_id!r}: {exc}") from None
            result = self._msal.acquire_token_for_client(scopes=[self.scope])
        else:
            resp = self.http.post(f"{self.authority_url}/{self.tenant_id}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.secret(),
                "scope": self.scope})
            try:
                result = resp.json()
            except ValueError:
                result = {"error": f"HTTP {resp.status_code}", "error_description": "not a token response"}
        if not isinstance(result, dict) or not result.get("access_token"):
            result = result if isinstance(result, dict) else {}
            desc = str(result.get("error_description") or "").splitlines()[:1]
            raise SourceError("auth_failed", "Microsoft Entra refused the app's credentials: "
                              f"{result.get('error', 'no token')}" + (f" ({desc[0][:200]})" if desc else ""))
        return str(result["access_token"]), float(result.get("expires_in") or 3600)


# -- download -----------------------------------------------------------------------------------------


def download(http: Any, url: str, what: str, limit: int) -> bytes:
    """Stream a pre-authenticated URL (no Authorization header) with ``ctx.http``'s retries and a size cap."""
    try:
        resp = http.get(url, limit=limit)
    except ResponseTooLarge:
        raise ItemError("file_too_large", f"{what}: over the {limit}-byte limit") from None
    except httpx.HTTPError as exc:
        raise ItemError("download_failed", f"{what}: {type(exc).__name__}") from None
    if resp.status_code != 200:
        reason = {403: "forbidden", 404: "not_found", 410: "not_found"}.get(resp.status_code, "download_failed")
        raise ItemError(reason, f"{what}: HTTP {resp.status_code}")
    return bytes(resp.content)


# -- permissions ------------------------------------------------------------------------------------

READ_ROLES = frozenset({"read", "write", "owner"})
NS = "ext:m365:"


def user_principal(object_id: str) -> str:
    return f"{NS}{object_id}"


def group_principal(object_id: str) -> str:
    return f"{NS}group:{object_id}"


def tenant_principal(tenant_id: str) -> str:
    return f"{NS}tenant:{tenant_id}"


def _identity_sets(perm: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    v2 = "grantedToV2" in perm or "grantedToIdentitiesV2" in perm
    single, many = ("grantedToV2", "grantedToIdentitiesV2") if v2 else ("grantedTo", "grantedToIdentities")
    sets: list[Mapping[str, Any]] = []
    one = perm.get(single)
    if isinstance(one, Mapping):
        sets.append(one)
    for s in perm.get(many) or ():
        if isinstance(s, Mapping):
            sets.append(s)
    return sets


def _ident_id(identity: Any) -> str:
    if isinstance(identity, Mapping):
        value = identity.get("id")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def principals_of(perm: Mapping[str, Any], tenant_id: str, site_id: str = "") -> set[str]:
    """The principals one Graph permission grants read access to (empty when it grants none)."""
    roles = {str(r).lower() for r in perm.get("roles") or ()}
    if not roles & READ_ROLES:
        return set()
    out: set[str] = set()
    link = perm.get("link")
    if isinstance(link, Mapping):
        scope = str(link.get("scope") or "").lower()
        if scope == "anonymous":
            out.add("public")
        elif scope == "organization":
            out.add(tenant_principal(tenant_id))
        elif scope == "existingaccess":
            return out
    for ident in _identity_sets(perm):
        if uid := _ident_id(ident.get("user")):
            out.add(user_principal(uid))
        if gid := _ident_id(ident.get("group")):
            out.add(group_principal(gid))
        if (sgid := _ident_id(ident.get("siteGroup"))) and site_id:
            out.add(f"{NS}sitegroup:{site_id}:{sgid}")
    return out


def map_permissions(perms: Iterable[Mapping[str, Any]], tenant_id: str, site_id: str = "") -> tuple[str, ...]:
    out: set[str] = set()
    for perm in perms:
        if isinstance(perm, Mapping):
            out |= principals_of(perm, tenant_id, site_id)
    return tuple(sorted(out))


def user_members(values: Iterable[Mapping[str, Any]]) -> list[str]:
    """``ext:m365:<id>`` of the users in a ``transitiveMembers`` page (groups, devices... are skipped)."""
    out = []
    for obj in values:
        kind = str(obj.get("@odata.type") or "")
        if kind.lower() == "#microsoft.graph.user" and (oid := _ident_id(obj)):
            out.append(user_principal(oid))
    return out


# -- scope ------------------------------------------------------------------------------------------


class Scope:
    """The ``folders`` allow-list inside a drive (case-insensitive, like SharePoint paths)."""

    def __init__(self, folders: Iterable[str]) -> None:
        self.folders = [f.strip("/").casefold() for f in folders]
        self.active = bool(self.folders)

    def allows(self, path: str) -> bool:
        p = path.strip("/").casefold()
        return not self.active or any(p == f or p.startswith(f + "/") for f in self.folders)

    def relation(self, folder_path: str | None) -> str:
        """``in`` (everything below is in scope), ``ancestor`` (holds an allowed folder) or ``out``."""
        if folder_path is None:
            return "out"
        p = folder_path.strip("/").casefold()
        if p and self.allows(p):
            return "in"
        return "ancestor" if not p or any(f.startswith(p + "/") for f in self.folders) else "out"


def _tree_path(tree: Mapping[str, list[str]], root_id: str | None, item_id: str | None) -> str | None:
    parts: list[str] = []
    cur = item_id
    for _ in range(512):
        if cur is None:
            return None
        if cur == root_id:
            return "/".join(reversed(parts))
        node = tree.get(cur)
        if node is None:
            return None
        parts.append(node[0])
        cur = node[1]
    return None  # a cycle: never in scope


def reported_path(it: Mapping[str, Any], name: str) -> str:
    """``name`` under the folder that ``parentReference.path`` (``/drives/{id}/root:/A%20B``) names; ``name`` alone
    when Graph leaves the path out (SharePoint delta does)."""
    ppath = str((it.get("parentReference") or {}).get("path") or "")
    rel = urllib.parse.unquote(ppath.split("root:", 1)[1]).strip("/") if "root:" in ppath else ""
    return f"{rel}/{name}" if rel else name


def delta_changes(values: Iterable[Any], drive: Any, full: bool, scope: Scope, tree: dict[str, list[str]] | None,
                  roots: dict[str, str], make_item: Callable[[dict[str, Any], str], SourceItem]) -> list[Change]:
    """The changes of one delta page of ``drive``; ``tree`` and ``roots`` are updated in place."""
    changes: list[Change] = []
    for it in values:
        if not isinstance(it, dict) or not it.get("id"):
            continue
        iid = str(it["id"])
        key = f"{drive.id}/{iid}"
        name = str(it.get("name") or "")
        if "deleted" in it or "@removed" in it:
            if tree is not None and iid in tree:
                del tree[iid]  # a folder; its files come as deletions of their own
            elif "folder" not in it:
                changes.append(Change(key, None))
            continue
        if "root" in it:
            roots[drive.id] = iid
            continue
        parent = (it.get("parentReference") or {}).get("id")
        if "folder" in it or "package" in it:
            if tree is not None:
                root = roots.get(drive.id)
                old = _tree_path(tree, root, iid) if iid in tree else None
                tree[iid] = [name, str(parent) if parent else ""]
                new = _tree_path(tree, root, iid)
                if not full and old is not None and new != old:
                    before, after = scope.relation(old), scope.relation(new)
                    if not before == after == "in" and not before == after == "out":
                        raise ResyncRequired(f"folder {old!r} became {new!r}: its files may have entered or left "
                                             "the allow-listed folders")
            continue
        if "file" not in it:
            continue  # neither a file nor a folder (e.g. a list item of another kind)
        if tree is not None:
            ppath = _tree_path(tree, roots.get(drive.id), str(parent) if parent else None)
            path = None if ppath is None else f"{ppath}/{name}".strip("/")
            if path is None or not scope.allows(path):
                if not full:  # it may have been in scope before: remove it (a no-op when it was not stored)
                    changes.append(Change(key, None))
                continue
        else:
            path = reported_path(it, name)
        changes.append(Change(key, make_item(it, path)))
    return changes
