"""Documents: list, upload (a background job), get, delete, re-ingest, page text, original file.

Every route reads through the caller's access filter; a document the caller cannot read is a 404,
exactly like one that does not exist. An upload is private to its uploader (ACL ``user:<id>``); the
uploader (its *owner*, kept in ``document_owners``) or an administrator may share, unshare, delete and
re-ingest it. An upload whose name is another user's document is refused, never overwritten.
Uploads are stored by content hash (ingest/files.py) and the
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
from pydantic import BaseModel, Field

from ...documents import AccessFilter
from ...governance.identity import IdentityError
from ...index.base import DocumentRecord
from ...ingest.files import safe_upload_name
from ...service import Souverain
from ..deps import INGEST, READ, AccessDep, IdPath, OffsetQuery, PagePath, Principal, PrincipalDep, ServiceDep
from .errors import AUTH_ERRORS, errors
from .schemas import DocumentOut, DocumentsOut, JobEnvelope, PageOut

router = APIRouter(prefix="/api/v1", tags=["documents"], responses=AUTH_ERRORS)

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


def owner_of(svc: Souverain, uri: str) -> int | None:
    row = svc.store.conns.get().execute("SELECT user_id FROM document_owners WHERE uri=?", (uri,)).fetchone()
    return int(row[0]) if row else None


def set_owner(svc: Souverain, uri: str, user_id: int) -> None:
    svc.store.conns.get().execute("INSERT OR REPLACE INTO document_owners(uri, user_id) VALUES (?, ?)", (uri, user_id))


def owned_uris(svc: Souverain, user_id: int, prefix: str) -> set[str]:
    rows = svc.store.conns.get().execute("SELECT uri FROM document_owners WHERE user_id=? AND substr(uri, 1, ?)=?",
                                         (user_id, len(prefix), prefix))
    return {str(u) for (u,) in rows}


def _may_manage(svc: Souverain, doc: DocumentRecord, principal: Principal) -> bool:
    return principal.is_admin or owner_of(svc, doc.uri) == principal.user.id


def _managed(svc: Souverain, doc_id: int, access: AccessFilter, principal: Principal) -> DocumentRecord:
    """A document the caller may read *and* manage; 403 when it may only read it."""
    doc = _get(svc, doc_id, access)
    if not _may_manage(svc, doc, principal):
        raise HTTPException(403, "only the document's owner or an administrator may do this")
    return doc


def _get(svc: Souverain, doc_id: int, access: AccessFilter) -> DocumentRecord:
    doc = svc.store.get_document_by_id(doc_id, access)
    if doc is None:
        raise HTTPException(404, NOT_FOUND)
    return doc


@router.get("/documents", response_model=DocumentsOut, dependencies=[READ])
def list_documents(svc: ServiceDep, access: AccessDep, principal: PrincipalDep, limit: int = 100,
                   offset: OffsetQuery = 0) -> dict[str, Any]:
    """Documents the caller may read, with their latest ingestion status; the first page also lists
    uploads that failed (or had no text) and were never indexed (``id`` null)."""
    docs = svc.store.list_documents(access, min(max(limit, 1), 1000), max(offset, 0))
    reports = svc.store.latest_reports([d.uri for d in docs])
    out = [document_out(d, reports.get(d.uri)) for d in docs]
    if offset <= 0:  # the caller's own failed uploads only
        mine = owned_uris(svc, principal.user.id, "upload:")
        out += [unindexed_out(r) for r in svc.store.unindexed_reports("upload:") if str(r["uri"]) in mine]
    return {"documents": out}


@router.post("/documents", status_code=202, response_model=JobEnvelope, responses=errors(400), dependencies=[INGEST])
async def upload(files: list[UploadFile], svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Store the files and index them in a background job (one report per file in the job)."""
    if not files:
        raise HTTPException(400, "no files given")
    limit = svc.settings.max_file_bytes
    items: list[dict[str, Any]] = []
    for f in files:
        name = safe_upload_name(f.filename)
        item: dict[str, Any] = {"uri": f"upload:{name}", "title": name.rsplit("/", 1)[-1].rsplit(".", 1)[0],
                                "source": "upload", "principals": [principal.principal],
                                "submitted_by": principal.user.id}
        uri = item["uri"]
        owner = owner_of(svc, uri)
        taken = owner is not None and owner != principal.user.id
        if not taken and owner is None and svc.store.get_document(uri) is not None:
            taken = True  # a document of the CLI or a connector
        data = await f.read(limit + 1)
        if taken:
            item["failed"] = {"reason": "name_taken",
                              "message": "another document has this name; rename the file and upload it again"}
        elif len(data) > limit:
            item["failed"] = {"reason": "file_too_large", "message": f"file is over the limit of {limit / 1e6:.1f} MB"}
        else:
            item["sha256"] = await run_in_threadpool(svc.files.put, data)
        if not taken:
            set_owner(svc, uri, principal.user.id)
        items.append(item)
    return {"job": svc.jobs.submit("upload", items)}


@router.get("/documents/{doc_id}", response_model=DocumentOut, responses=errors(404), dependencies=[READ])
def get_document(doc_id: IdPath, svc: ServiceDep, access: AccessDep) -> dict[str, Any]:
    doc = _get(svc, doc_id, access)
    return document_out(doc, svc.store.latest_reports([doc.uri]).get(doc.uri))


@router.delete("/documents/{doc_id}", status_code=204, responses=errors(404), dependencies=[INGEST])
def delete_document(doc_id: IdPath, svc: ServiceDep, access: AccessDep, principal: PrincipalDep) -> Response:
    """Remove the document, its chunks, vectors and (when nothing else uses it) its stored file (owner or admin)."""
    doc = _managed(svc, doc_id, access, principal)
    svc.store.conns.get().execute("DELETE FROM document_owners WHERE uri=?", (doc.uri,))
    if svc.store.delete_document(doc.uri):
        svc.store.record_report(doc.uri, "removed", "", {"uri": doc.uri, "status": "removed", "message": "deleted"})
    if doc.source == "upload" and not svc.store.sha256_in_use(doc.sha256) and not svc.jobs.table.sha_wanted(doc.sha256):
        svc.files.remove(doc.sha256)
    return Response(status_code=204)


@router.post("/documents/{doc_id}/reingest", status_code=202, response_model=JobEnvelope,
             responses=errors(400, 404, 409), dependencies=[INGEST])
def reingest(doc_id: IdPath, svc: ServiceDep, access: AccessDep, principal: PrincipalDep) -> dict[str, Any]:
    """Parse the document again from its original, even if it is unchanged (owner or admin)."""
    doc = _managed(svc, doc_id, access, principal)
    item: dict[str, Any] = {"uri": doc.uri, "title": doc.title, "source": doc.source,
                            "principals": list(doc.principals), "force": True, "submitted_by": principal.user.id}
    if doc.source == "upload":
        if not svc.files.exists(doc.sha256):
            raise HTTPException(409, "the original upload is no longer stored; upload the file again")
        item["sha256"] = doc.sha256
    elif doc.source == "local":
        item["path"] = doc.uri
    else:
        raise ValueError(f"documents from source {doc.source!r} are re-ingested by their connector")
    return {"job": svc.jobs.submit("reingest", [item])}


@router.get("/documents/{doc_id}/pages/{number}", response_model=PageOut, responses=errors(404), dependencies=[READ])
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


@router.get("/documents/{doc_id}/file", response_model=None, responses=errors(404), dependencies=[READ])
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


class ShareIn(BaseModel):
    principals: list[str] = Field(min_length=1, max_length=100,
                                  description="user:<id>, group:<id>, ext:<source>:<id> or public")


class ShareOut(BaseModel):
    document: str
    principals: list[str]


@router.post("/documents/{doc_id}/share", response_model=ShareOut, responses=errors(400, 404), dependencies=[INGEST])
def share(doc_id: IdPath, body: ShareIn, svc: ServiceDep, access: AccessDep, principal: PrincipalDep) -> dict[str, Any]:
    """Add principals to the document's ACL (owner or admin); effective on the next query."""
    doc = _managed(svc, doc_id, access, principal)
    try:
        acl = svc.identity.share_document(doc.uri, body.principals)
    except IdentityError as exc:
        raise HTTPException(400, str(exc)) from None
    return {"document": doc.uri, "principals": list(acl)}


@router.delete("/documents/{doc_id}/share", response_model=ShareOut, responses=errors(400, 404), dependencies=[INGEST])
def unshare(doc_id: IdPath, body: ShareIn, svc: ServiceDep, access: AccessDep, principal: PrincipalDep) -> dict[str, Any]:
    """Remove principals from the document's ACL (owner or admin). The owner's own ``user:`` grant stays."""
    doc = _managed(svc, doc_id, access, principal)
    owner = owner_of(svc, doc.uri)
    keep = {f"user:{owner}"} if owner is not None else set()
    try:
        acl = svc.identity.unshare_document(doc.uri, [p for p in body.principals if p not in keep])
    except IdentityError as exc:
        raise HTTPException(400, str(exc)) from None
    return {"document": doc.uri, "principals": list(acl)}
