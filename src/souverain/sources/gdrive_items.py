"""Google Drive file resources → ``SourceItem``: which files are synced and how they are named and versioned.

Google Docs/Sheets/Slides are exported to DOCX/XLSX/PPTX (``export_format``, name + extension,
version = ``modifiedTime`` else ``version``); other Google types (folders, forms, shortcuts,
drawings, sites) are not synced; other files are downloaded as they are (version = ``md5Checksum``
else ``version``). The scope rules (allow-list) live in the connector; this module only looks at
one file resource.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .base import SourceItem
from .gdrive_permissions import principals_for

FOLDER = "application/vnd.google-apps.folder"
GOOGLE_TYPES = "application/vnd.google-apps."
EXPORTS = {
    "application/vnd.google-apps.document": ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "application/vnd.google-apps.spreadsheet": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "application/vnd.google-apps.presentation": ("pptx",
                                                 "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
}
EXPORT_MIME = {ext: mime for ext, mime in EXPORTS.values()}
FILE_FIELDS = ("id,name,mimeType,md5Checksum,version,modifiedTime,size,parents,webViewLink,driveId,trashed,"
               "owners(emailAddress),permissions(type,emailAddress,domain,role,deleted)")
# what the scope rules and ``syncable`` read: enough for listing ids (``ListsIds``), nothing else
SCOPE_FIELDS = "id,mimeType,parents,driveId,trashed,owners(emailAddress)"


def quoted(value: str) -> str:
    """A string literal for a Drive ``q`` query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def owners(f: dict) -> set[str]:
    return {str(o.get("emailAddress", "")).lower() for o in f.get("owners") or [] if isinstance(o, dict)}


def syncable(f: dict) -> bool:
    """Whether a file of this type is synced at all (exported Google types and ordinary files)."""
    mime = str(f.get("mimeType") or "")
    return bool(f.get("id")) and (mime in EXPORTS or not mime.startswith(GOOGLE_TYPES))


def source_item(f: dict, *, anyone_public: bool) -> SourceItem | None:
    """The item of a file resource (scope not checked); None for types that are not synced."""
    if not syncable(f):
        return None
    mime = str(f.get("mimeType") or "")
    name = str(f.get("name") or f["id"])
    size: int | None = None
    export = ""
    if mime in EXPORTS:
        export, out_mime = EXPORTS[mime]
        name = name if name.lower().endswith("." + export) else f"{name}.{export}"
        version = str(f.get("modifiedTime") or f.get("version") or "")
        mime = out_mime
    else:
        version = str(f.get("md5Checksum") or f.get("version") or f"{f.get('modifiedTime')}/{f.get('size')}")
        size = int(f["size"]) if str(f.get("size") or "").isdigit() else None
    perms = f.get("permissions")
    principals = principals_for(perms, anyone_public=anyone_public) if isinstance(perms, list) else None
    return SourceItem(id=f["id"], name=name, path=name, version=version, size=size, modified_at=parse_time(f.get("modifiedTime")),
                      mime_type=mime, web_url=str(f.get("webViewLink") or ""), principals=principals, export_format=export)
