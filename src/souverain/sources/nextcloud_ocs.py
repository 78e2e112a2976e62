"""Nextcloud group members through the OCS provisioning API (for ``WebDAVConnector.groups``).

Endpoint: ``GET <server>/ocs/v2.php/cloud/groups/<gid>/users?format=json`` with ``OCS-APIRequest:
true`` and the connector's basic credentials (Nextcloud's provisioning API; ``/cloud/groups/<gid>``
is its deprecated alias). Answer: ``{"ocs": {"meta": {"status", "statuscode", "message"}, "data":
{"users": [<user id>, ...]}}}``. v2 passes the outcome in the HTTP status (200 ok, 404 no such group,
403 not allowed); v1 answers HTTP 200 with ``statuscode`` 100 (ok), 404/998 or 403/997. Recent
servers list the members of nested groups too.

Who may read it: an admin, a delegated admin, a sub-admin of that group (some recent versions also
let a member read its own group). Anyone else gets 403 (``OCSForbiddenException``; older servers: OCS 997, HTTP
401; a 401 is taken as that refusal too, since the same credentials have just listed the files). Such
a refusal does not fail the sync: the group is left out of the answer, one warning per
sync names the refused groups, and the runner drops that group's stored members (access is never
kept on memberships that can no longer be read). Members of those groups then have to be linked by
hand (``souverain users link <user> nextcloud group:<gid>``), or the account made a sub-admin of them.
A group the server does not know (404) is returned with no members, so its old members lose access.
Throttling (429/503 after the client's retries) and server errors fail the sync with the stored
memberships untouched; an answer that is not OCS JSON fails it as ``bad_response``.

Cost: one request per group named by the documents' shares, per sync.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx

from .base import GroupMembers, SourceError

log = logging.getLogger(__name__)

NAMESPACE = "nextcloud"
GROUP_PREFIX = f"ext:{NAMESPACE}:group:"
OCS_HEADERS = {"OCS-APIRequest": "true", "Accept": "application/json"}
OCS_OK = (100, 200)
OCS_NOT_FOUND = (404, 998)
OCS_NOT_ALLOWED = (403, 997)

Request = Callable[..., httpx.Response]
Failure = Callable[[httpx.Response, str], SourceError]


def groups_endpoint(server_root: str, ocs_url: str) -> str:
    """``<server>/ocs/v2.php/cloud/groups`` from the Nextcloud root or the share API URL; "" if neither has it."""
    if server_root:
        return f"{server_root}/ocs/v2.php/cloud/groups"
    for marker in ("/ocs/v2.php/", "/ocs/v1.php/"):
        if marker in ocs_url:
            return ocs_url.split(marker, 1)[0] + "/ocs/v2.php/cloud/groups"
    return ""


def _ocs(resp: httpx.Response, gid: str) -> tuple[int | None, Any]:
    try:
        body = resp.json()["ocs"]
        meta, data = body["meta"], body.get("data")
        code = meta.get("statuscode")
        return (int(code) if code is not None else None), data
    except (ValueError, KeyError, TypeError, AttributeError):
        if resp.status_code in (401, 403, 404):
            return None, None  # the HTTP status says enough (a proxy's or an old server's plain error page)
        raise SourceError("bad_response", f"members of Nextcloud group {gid!r}: not an OCS JSON answer "
                                          f"(HTTP {resp.status_code})") from None


def _outcome(resp: httpx.Response, gid: str) -> tuple[str, list[str]]:
    """("members", user ids), ("missing", []) or ("refused", [])."""
    http = resp.status_code
    code, data = _ocs(resp, gid)
    if http in (401, 403) or (http == 200 and code in OCS_NOT_ALLOWED):
        return "refused", []
    if http == 404 or (http == 200 and code in OCS_NOT_FOUND):
        return "missing", []
    users = data.get("users") if http == 200 and code in OCS_OK and isinstance(data, dict) else None
    if not isinstance(users, list):
        raise SourceError("bad_response", f"members of Nextcloud group {gid!r}: unexpected answer "
                                          f"(HTTP {http}, OCS {code})")
    return "members", [str(u) for u in users if isinstance(u, (str, int)) and str(u).strip()]


def read_groups(request: Request, failure: Failure, url: str, referenced: Iterable[str],
                account: str) -> Iterator[GroupMembers]:
    """The members of each ``ext:nextcloud:group:<gid>`` in ``referenced``; refused groups are left out."""
    refused: list[str] = []
    for principal in sorted(set(referenced)):
        gid = principal[len(GROUP_PREFIX):] if principal.startswith(GROUP_PREFIX) else ""
        if not gid:
            continue
        resp = request("GET", f"{url}/{urllib.parse.quote(gid, safe='/')}/users", params={"format": "json"},
                       headers=OCS_HEADERS)
        if resp.status_code in (429, 503) or resp.status_code >= 500:
            raise failure(resp, f"reading the members of Nextcloud group {gid!r}")
        if resp.status_code not in (200, 401, 403, 404):
            raise SourceError("unreachable", f"members of Nextcloud group {gid!r}: unexpected HTTP {resp.status_code}")
        outcome, users = _outcome(resp, gid)
        if outcome == "refused":
            refused.append(gid)
            continue
        if outcome == "missing":
            log.info("Nextcloud group %r does not exist (any more): it has no members", gid)
        yield GroupMembers(principal, tuple(sorted({f"ext:{NAMESPACE}:{uid}" for uid in users})))
    if refused:
        shown = ", ".join(repr(g) for g in refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        log.warning("Nextcloud did not let %r read the members of %d group(s) (%s): the provisioning API needs an "
                    "admin or a sub-admin of those groups. Their members get no access through them until they "
                    "are linked by hand to ext:%s:group:<gid> (or set nextcloud_groups to false to stop asking)",
                    account, len(refused), shown, NAMESPACE)
