"""Uploaded originals, stored by content hash, and upload names made safe.

- Bytes live at ``<data_dir>/files/<sha256>``: the file system never sees a name a user chose, so a
  name like ``../../etc/passwd`` can do no harm. Identical uploads share one file.
- The name a user gave (a folder upload sends relative paths) only becomes a display name inside the
  document URI ``upload:<name>``: each path component is sanitised, ``.``/``..`` and empty components
  are dropped, and the result is never joined to a file system path.
- A stored file is removed when no document and no unfinished job uses its hash any more.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from ..documents import content_hash

_UNSAFE = re.compile(r"[^A-Za-z0-9._ \-\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF\u3040-\u30ff\u4e00-\u9fff]")
_SHA = re.compile(r"^[0-9a-f]{64}$")
MAX_NAME = 200


def safe_upload_name(filename: str | None) -> str:
    """A display name for an upload: sanitised relative path components joined by ``/``."""
    parts = []
    for raw in re.split(r"[/\\]+", filename or ""):
        part = _UNSAFE.sub("_", raw).strip(" ")
        if part and part not in (".", "..") and not set(part) <= {"."}:
            parts.append(part[:MAX_NAME])
    name = "/".join(parts)[-MAX_NAME:].lstrip("/.")
    return name or "upload"


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not _SHA.match(sha256):
            raise ValueError("invalid content hash")
        return self.root / sha256

    def put(self, data: bytes) -> str:
        sha = content_hash(data)
        dest = self.path(sha)
        if dest.exists():
            return sha
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return sha

    def read(self, sha256: str) -> bytes | None:
        try:
            return self.path(sha256).read_bytes()
        except (OSError, ValueError):
            return None

    def exists(self, sha256: str) -> bool:
        try:
            return self.path(sha256).is_file()
        except ValueError:
            return False

    def remove(self, sha256: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.path(sha256).unlink()
