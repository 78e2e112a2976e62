"""One Microsoft 365 item by id (``GetsItem`` of ``m365.py``), for the runner's retry of a failed download.

``GET /drives/{drive-id}/items/{item-id}`` returns the driveItem with its ``parentReference``; unlike
SharePoint delta, a direct GET carries the documented, percent-encoded ``parentReference.path``
(``/drives/{drive-id}/root:/HR/Policies``), so the item's path inside its drive is known at once.
Should Graph leave the path out, the parents are read by id (``parentReference.id``) up to the
item with the ``root`` facet. The resulting path is checked against ``folders`` exactly as the
delta listing checks it, and the item is built by the same function, so a retried item looks
exactly like a listed one (same ``cTag``-first version, principals read afterwards).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .m365_permissions import Scope, reported_path

MAX_DEPTH = 256  # SharePoint URLs cap paths far below this; a longer chain is a cycle

GetItem = Callable[[str], "dict[str, Any] | None"]  # item id -> driveItem JSON, None when gone (404)


def is_live_file(it: dict[str, Any] | None, item_id: str, drive_id: str) -> bool:
    """A file of that drive, not deleted (folders, OneNote packages and the root are not documents)."""
    if it is None or "file" not in it or str(it.get("id") or item_id) != item_id:
        return False
    if any(k in it for k in ("deleted", "@removed", "folder", "package", "root")):
        return False
    return (it.get("parentReference") or {}).get("driveId") in (None, drive_id)


def path_in_drive(it: dict[str, Any], scope: Scope, get_item: GetItem, cache: dict[str, str | None]) -> str | None:
    """The path of ``it`` inside its drive, as delta would give it, or None when it is outside ``scope`` (or its
    parent folder is gone). Without ``folders`` the path is only shown, so no parent is read for it."""
    ref = it.get("parentReference") or {}
    name = str(it.get("name") or "")
    if ref.get("path") or not scope.active:
        path = reported_path(it, name)
    else:
        parent = folder_path(str(ref.get("id") or ""), get_item, cache)
        if parent is None:
            return None
        path = f"{parent}/{name}".strip("/")
    return path if scope.allows(path) else None


def folder_path(folder_id: str, get_item: GetItem, cache: dict[str, str | None], depth: int = 0) -> str | None:
    """Path of a folder ("" for the root), walking ``parentReference.id`` upwards; None when a folder on the way
    is gone or the chain is broken. ``cache`` (folder id -> path) spares repeated requests within one sync."""
    if folder_id in cache:
        return cache[folder_id]
    it = get_item(folder_id) if folder_id and depth < MAX_DEPTH else None
    path: str | None = None
    if it is None or "deleted" in it or "@removed" in it:
        path = None
    elif "root" in it:
        path = ""
    else:
        ref = it.get("parentReference") or {}
        name = str(it.get("name") or "")
        if ref.get("path"):
            path = reported_path(it, name)
        elif (parent := folder_path(str(ref.get("id") or ""), get_item, cache, depth + 1)) is not None:
            path = f"{parent}/{name}".strip("/")
    cache[folder_id] = path
    return path
