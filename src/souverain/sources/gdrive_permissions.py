"""Google Drive permissions → Souverain principals, and Google group membership (Admin SDK Directory).

Mapping (any role grants read: owner, organizer, fileOrganizer, writer, commenter, reader):

- ``type: user``   → ``ext:gdrive:<email, lowercased>``
- ``type: group``  → ``ext:gdrive:group:<email, lowercased>``
- ``type: domain`` → ``ext:gdrive:domain:<domain, lowercased>``
- ``type: anyone`` → ``public`` ("anyone with the link": Google lets anyone who has the link open
  it, so the index lets everyone find it; set ``anyone_with_link_public: false`` to ignore such
  permissions and keep only the named principals)
- deleted permissions and unknown types are ignored.

Shared-drive items carry no ``permissions`` in listings (documented), so their principals come from
``permissions.list`` with ``supportsAllDrives=true``, which includes the drive's members as inherited
permissions (``permissionDetails``); paged with ``nextPageToken``. A ``403`` there (the impersonated
user cannot see the sharing) gives an empty ACL — the item is indexed but invisible — never ``public``.

Groups: ``members.list`` (``/admin/directory/v1/groups/{groupKey}/members``, paged) as the configured
``subject``; members of ``type: GROUP`` are expanded recursively (cycles are cut), ``type: USER``
become ``ext:gdrive:<email>``; ``type: CUSTOMER`` (everyone in the Workspace account) is not expanded
(grant the domain instead). A group the Directory does not know (``404``, e.g. a group of another
organisation) has no members here.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

from .base import GroupMembers, ItemError, SourceError
from .gdrive_auth import DIRECTORY_SCOPE, GoogleApi, error_reasons

log = logging.getLogger(__name__)

NS = "gdrive"
GROUP_PREFIX = f"ext:{NS}:group:"
PERMISSION_FIELDS = "type,emailAddress,domain,role,deleted"


def principal_for(perm: dict[str, Any], *, anyone_public: bool = True) -> str | None:
    if perm.get("deleted"):
        return None
    kind = perm.get("type")
    email = str(perm.get("emailAddress") or "").strip().lower()
    if kind == "user" and email:
        return f"ext:{NS}:{email}"
    if kind == "group" and email:
        return f"{GROUP_PREFIX}{email}"
    if kind == "domain" and perm.get("domain"):
        return f"ext:{NS}:domain:{str(perm['domain']).strip().lower()}"
    if kind == "anyone" and anyone_public:
        return "public"
    return None


def principals_for(perms: Iterable[dict[str, Any]], *, anyone_public: bool = True) -> tuple[str, ...]:
    return tuple(sorted({p for perm in perms if (p := principal_for(perm, anyone_public=anyone_public))}))


def list_permissions(api: GoogleApi, drive_url: str, file_id: str, subject: str, *, page_size: int = 100) -> list[dict]:
    """Every permission of a file or shared drive (``permissions.list``, all pages).

    Raises ItemError for 404 (gone) and 403 (cannot read the sharing); the caller decides what an
    unreadable ACL means.
    """
    url = f"{drive_url}/drive/v3/files/{urllib.parse.quote(file_id, safe='')}/permissions"
    out: list[dict] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"supportsAllDrives": "true", "pageSize": page_size,
                                  "fields": f"nextPageToken,permissions({PERMISSION_FIELDS},permissionDetails)"}
        if token:
            params["pageToken"] = token
        resp = api.request("GET", url, subject=subject, params=params)
        if resp.status_code != 200:
            message, _, _ = error_reasons(resp)
            reason = {404: "not_found", 403: "forbidden"}.get(resp.status_code, "http_error")
            raise ItemError(reason, f"permissions of {file_id}: HTTP {resp.status_code} {message}".strip())
        body = resp.json()
        out.extend(p for p in body.get("permissions") or [] if isinstance(p, dict))
        token = body.get("nextPageToken")
        if not token:
            return out


def drive_acl_hash(api: GoogleApi, drive_url: str, drive_id: str, subject: str, *, anyone_public: bool) -> str:
    """A short hash of a shared drive's member principals (it changes when the drive's membership does)."""
    try:
        perms = list_permissions(api, drive_url, drive_id, subject)
    except ItemError as exc:
        raise SourceError("auth_failed" if exc.reason == "forbidden" else exc.reason,
                          f"members of shared drive {drive_id}: {exc}") from None
    principals = principals_for(perms, anyone_public=anyone_public)
    return hashlib.sha256("\n".join(principals).encode()).hexdigest()[:16]


class GroupExpander:
    """Transitive user members of Google groups, through the Directory API."""

    def __init__(self, api: GoogleApi, directory_url: str, subject: str, page_size: int = 200) -> None:
        self.api = api
        self.directory_url = directory_url
        self.subject = subject
        self.page_size = page_size
        self._direct: dict[str, list[tuple[str, str]]] = {}

    def direct_members(self, group: str) -> list[tuple[str, str]]:
        """(type, email) of the group's direct members."""
        if group in self._direct:
            return self._direct[group]
        url = f"{self.directory_url}/admin/directory/v1/groups/{urllib.parse.quote(group, safe='@')}/members"
        members: list[tuple[str, str]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"maxResults": self.page_size}
            if token:
                params["pageToken"] = token
            resp = self.api.request("GET", url, subject=self.subject, scope=DIRECTORY_SCOPE, params=params)
            if resp.status_code == 404:
                log.info("Google group %s is not in the Directory; no members", group)
                break
            if resp.status_code != 200:
                message, _, _ = error_reasons(resp)
                reason = "auth_failed" if resp.status_code in (401, 403) else "http_error"
                raise SourceError(reason, f"members of Google group {group}: HTTP {resp.status_code} {message}; "
                                  f"the subject needs the {DIRECTORY_SCOPE.rsplit('/', 1)[-1]} scope and an admin role")
            body = resp.json()
            for m in body.get("members") or []:
                email = str(m.get("email") or "").strip().lower()
                if email:
                    members.append((str(m.get("type") or "USER").upper(), email))
            token = body.get("nextPageToken")
            if not token:
                break
        self._direct[group] = members
        return members

    def users(self, group: str) -> set[str]:
        seen: set[str] = set()
        users: set[str] = set()
        stack = [group]
        while stack:
            g = stack.pop()
            if g in seen:
                continue
            seen.add(g)
            for kind, email in self.direct_members(g):
                if kind == "GROUP":
                    stack.append(email)
                elif kind == "USER":
                    users.add(f"ext:{NS}:{email}")
        return users

    def groups(self, referenced: Iterable[str]) -> Iterator[GroupMembers]:
        for principal in sorted(set(referenced)):
            if principal.startswith(GROUP_PREFIX):
                email = principal[len(GROUP_PREFIX):]
                yield GroupMembers(principal, tuple(sorted(self.users(email))))
