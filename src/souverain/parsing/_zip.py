"""Pre-flight check of ZIP containers (DOCX, PPTX, XLSX) before a library inflates them.

The central directory declares every member's sizes; Python's ``zipfile`` never inflates a member past
its declared size, so checking the declared sizes bounds the memory the Office libraries can use:
- the sum of uncompressed sizes must stay under ``ParseLimits.max_uncompressed_bytes``;
- any member above 1 MiB must compress by less than ``ParseLimits.max_zip_ratio`` (real Office XML
  compresses 5-30x; a bomb compresses 1000x).
"""

from __future__ import annotations

import io
import zipfile

from souverain.documents import RawDocument
from souverain.parsing.base import CorruptDocument, MiB, ParseLimits, ZipBombSuspected


def check_zip(raw: RawDocument, limits: ParseLimits, kind: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(raw.data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise CorruptDocument(raw.uri, f"the {kind} file is not a valid ZIP container (damaged or truncated: {exc})"
                              ) from exc
    total = sum(info.file_size for info in infos)
    if total > limits.max_uncompressed_bytes:
        raise ZipBombSuspected(raw.uri, f"the {kind} file would expand to {total / MiB:.0f} MiB, above the "
                               f"{limits.max_uncompressed_bytes / MiB:.0f} MiB limit "
                               "(ParseLimits.max_uncompressed_bytes)")
    for info in infos:
        if info.file_size > MiB and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise ZipBombSuspected(raw.uri, f"member {info.filename!r} of the {kind} file expands {ratio:.0f}x, "
                                   f"above the {limits.max_zip_ratio}x limit (ParseLimits.max_zip_ratio)")
