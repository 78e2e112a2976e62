"""GET/POST /api/v1/documents: list what the caller may read; upload files to index."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, UploadFile

from ...documents import PUBLIC, RawDocument
from ..deps import AccessDep, ServiceDep

router = APIRouter(prefix="/api/v1", tags=["documents"])

_SAFE = re.compile(r"[^A-Za-z0-9._ \-\u00C0-\u024F\u3040-\u30ff\u4e00-\u9fff]")


@router.get("/documents")
def list_documents(svc: ServiceDep, access: AccessDep, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    docs = svc.store.list_documents(access, min(max(limit, 1), 1000), max(offset, 0))
    return {"documents": [
        {"document": d.uri, "title": d.title, "format": d.format, "source": d.source, "language": d.language,
         "pages": d.page_count, "chunks": d.chunk_count, "size_bytes": d.size_bytes,
         "modified_at": d.modified_at, "ingested_at": d.ingested_at} for d in docs]}


@router.post("/documents", status_code=201)
async def upload(files: list[UploadFile], svc: ServiceDep, access: AccessDep) -> dict[str, Any]:
    """Index uploaded files (public). One report per file; a bad file never fails the others."""
    if not files:
        raise HTTPException(400, "no files given")
    limit = svc.settings.max_file_bytes
    reports = []
    ingestor = svc.ingestor(principals=(PUBLIC,), source="upload")
    for f in files:
        name = _SAFE.sub("_", (f.filename or "upload").rsplit("/", 1)[-1])[:200] or "upload"
        data = await f.read(limit + 1)
        uri = f"upload:{name}"
        rep: dict[str, object]
        if len(data) > limit:
            rep = {"uri": uri, "status": "failed", "reason": "file_too_large",
                   "message": f"file is over the limit of {limit / 1e6:.1f} MB"}
        else:
            report = ingestor.ingest_raw(RawDocument(uri=uri, data=data, title=name.rsplit(".", 1)[0], source="upload"))
            svc.store.record_report(report.uri, report.status, report.reason, report.as_dict())
            rep = report.as_dict()
        reports.append(rep)
    svc.worker.wake()
    return {"reports": reports}
