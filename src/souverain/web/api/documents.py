"""Documents: list, upload (a background job), get, delete, re-ingest, page text, original file.

Every route reads through the caller's access filter; a document the caller cannot read is a 404,
exactly like one that does not exist. Uploads are stored by content hash (ingest/files.py) and the
user's file name only survives, sanitised, as the display name in ``upload:<name>``. The original
of a local-path document is served only while the file on disk still has the indexed sha256.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from ...documents import PUBLIC, AccessFilter
from ...index.base import DocumentRecord
from ...ingest.files import safe_upload_name
from ...service import Souverain
from ..deps import AccessDep, IdPath, OffsetQuery, PagePath, ServiceDep
from .errors import errors
from .schemas import DocumentOut, DocumentsOut, JobEnvelope, PageOut

router = APIRouter(prefix="/api/v1", tags=["documents"])

MIME = {"pdf": "application/pdf", "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv",
        "html": "text/html", "markdown": "text/markdown", "text": "text/plain", "eml": "message/rfc822"}
NOT_FOUND = "document not found"


def document_out(d: DocumentRecord, report: dict[str, Any] | None) -> dict[str, Any]:
    report = report or {}
    return {"id": d.id, "document": d.uri, "title": d.title, "format": d.format, "source": d.source,
            "language": d.language, "pages": d.page_count, "chars": d.char_count, "chunks": d.chunk_count,
            "size_bytes": d.size_bytes, "modified_at": d.modified_at, "ingested_at": d.ingested_at,
            "status": report.get("status", "indexed"), "reason": report.get("reason", ""),
            "message": report.get("message", ""), "warnings": report.get("warnings", [])}


def unindexed_out(r: dict[str, Any]) -> dict[str, Any]:
    uri = str(r["uri"])
    return {"id": None, "document": uri, "title": safe_upload_name(uri.removeprefix("upload:")).rsplit("/", 1)[-1],
            "format": r.get("format", ""), "source": "upload", "language": r.get("language", ""),
            "pages": r.get("pages", 0), "chars": r.get("chars", 0), "chunks": 0, "size_bytes": None,
            "modified_at": None, "ingested_at": None, "status": r["status"], "reason": r.get("reason", ""),
            "message": r.get("message", ""), "warnings": r.get("warnings", [])}


def _get(svc: Souverain, doc_id: int, access: AccessFilter) -> DocumentRecord:
    doc = svc.store.get_document_by_id(doc_id, access)
    if doc is None:
        raise HTTPException(404, NOT_FOUND)
    return doc


@router.get("/documents", response_model=DocumentsOut)
def list_documents(svc: ServiceDep, access: AccessDep, limit: int = 100, offset: OffsetQuery = 0) -> dict[str, Any]:
    """Documents the caller may read, with their latest ingestion status; the first page also lists
    uploads that failed (or had no text) and were never indexed (``id`` null)."""
    docs = svc.store.list_documents(access, min(max(limit, 1), 1000), max(offset, 0))
    reports = svc.store.latest_reports([d.uri for d in docs])
    out = [document_out(d, reports.get(d.uri)) for d in docs]
    if offset <= 0 and PUBLIC in access.principals:  # uploads are public until identity arrives
        out += [unindexed_out(r) for r in svc.store.unindexed_reports("upload:")]
    return {"documents": out}


@router.post("/documents", status_code=202, response_model=JobEnvelope, responses=errors(400))
async def upload(files: list[UploadFile], svc: ServiceDep, access: AccessDep) -> dict[str, Any]:
    """Store the files and index them in a background job (one report per file in the job)."""
    if not files:
        raise HTTPException(400, "no files given")
    limit = svc.settings.max_file_bytes
    items: list[dict[str, Any]] = []
    for f in files:
        name = safe_upload_name(f.filename)
        item: dict[str, Any] = {"uri": f"upload:{name}", "title": name.rsplit("/", 1)[-1].rsplit(".", 1)[0],
                                "source": "upload", "principals": [PUBLIC]}
        data = await f.read(limit + 1)
        if len(data) > limit:
            item["failed"] = {"reason": "file_too_large", "message": f"file is over the limit of {limit / 1e6:.1f} MB"}
        else:
            item["sha256"] = await run_in_threadpool(svc.files.put, data)
        items.append(item)
    return {"job": svc.jobs.submit("upload", items)}


@router.get("/documents/{doc_id}", response_model=DocumentOut, responses=errors(404))
def get_document(doc_id: IdPath, svc: ServiceDep, access: AccessDep) -> dict[str, Any]:
    doc = _get(svc, doc_id, access)
    return document_out(doc, svc.store.latest_reports([doc.uri]).get(doc.uri))


@router.delete("/documents/{doc_id}", status_code=204, responses=errors(404))
def delete_document(doc_id: IdPath, svc: ServiceDep, access: AccessDep) -> Response:
    """Remove the document, its chunks, vectors and (when nothing else uses it) its stored file."""
    doc = _get(svc, doc_id, access)
    if svc.store.delete_document(doc.uri):
        svc.store.record_report(doc.uri, "removed", "", {"uri": doc.uri, "status": "removed", "message": "deleted"})
    if doc.source == "upload" and not svc.store.sha256_in_use(doc.sha256) and not svc.jobs.table.sha_wanted(doc.sha256):
        svc.files.remove(doc.sha256)
    return Response(status_code=204)


@router.post("/documents/{doc_id}/reingest", status_code=202, response_model=JobEnvelope, responses=errors(400, 404, 409))
def reingest(doc_id: IdPath, svc: ServiceDep, access: AccessDep) -> dict[str, Any]:
    """Parse the document again from its original, even if it is unchanged."""
    doc = _get(svc, doc_id, access)
    item: dict[str, Any] = {"uri": doc.uri, "title": doc.title, "source": doc.source,
                            "principals": list(doc.principals), "force": True}
    if doc.source == "upload":
        if not svc.files.exists(doc.sha256):
            raise HTTPException(409, "the original upload is no longer stored; upload the file again")
        item["sha256"] = doc.sha256
    elif doc.source == "local":
        item["path"] = doc.uri
    else:
        raise ValueError(f"documents from source {doc.source!r} are re-ingested by their connector")
    return {"job": svc.jobs.submit("reingest", [item])}


@router.get("/documents/{doc_id}/pages/{number}", response_model=PageOut, responses=errors(404))
def page(doc_id: IdPath, number: PagePath, svc: ServiceDep, access: AccessDep) -> dict[str, Any]:
    """The stored text of one page (citations' ``char_start``/``char_end`` index into it)."""
    doc = _get(svc, doc_id, access)
    found = svc.store.get_page(doc_id, number, access)
    if found is None:
        raise HTTPException(404, f"page {number} not found; the document has {doc.page_count} page(s)")
    label, text = found
    return {"document": doc.uri, "title": doc.title, "page": number, "pages": doc.page_count, "label": label, "text": text}


def _disposition(doc: DocumentRecord) -> str:
    base = doc.uri.removeprefix("upload:") if doc.source == "upload" else doc.uri.replace("\\", "/")
    name = safe_upload_name(base.rsplit("/", 1)[-1])
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")
    return f"{'inline' if doc.format == 'pdf' else 'attachment'}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


@router.get("/documents/{doc_id}/file", response_model=None, responses=errors(404))
def original_file(doc_id: IdPath, svc: ServiceDep, access: AccessDep) -> Response:
    """The original bytes (PDF inline, everything else as an attachment)."""
    doc = _get(svc, doc_id, access)
    media = MIME.get(doc.format, "application/octet-stream")
    headers = {"Content-Disposition": _disposition(doc)}
    if doc.format != "pdf":  # never rendered in our origin, even if a browser insists
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if doc.source == "upload":
        if not svc.files.exists(doc.sha256):
            raise HTTPException(404, "the original upload is no longer stored")
        return FileResponse(svc.files.path(doc.sha256), media_type=media, headers=headers)
    if doc.source != "local":
        raise HTTPException(404, f"the original of a {doc.source!r} document is kept by its source, not here")
    try:
        with open(doc.uri, "rb") as f:
            data = f.read(svc.settings.max_file_bytes + 1)
    except OSError:
        raise HTTPException(404, "the original file is no longer at its indexed path") from None
    if hashlib.sha256(data).hexdigest() != doc.sha256:
        raise HTTPException(404, "the original file has changed since it was indexed; re-ingest it to serve it")
    return Response(data, media_type=media, headers=headers)
