"""Ingestion jobs: list (latest first), get, cancel (see ingest/jobs.py for the semantics).

Jobs carry file names (upload display names or local paths) but no document text. Until identity
arrives every caller is anonymous and sees every job; with identity they will be scoped to their
submitter like conversations.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from ..deps import IdPath, OffsetQuery, ServiceDep
from .errors import errors
from .schemas import JobOut, JobsOut

router = APIRouter(prefix="/api/v1", tags=["jobs"])


@router.get("/jobs", response_model=JobsOut)
def list_jobs(svc: ServiceDep, limit: int = 50, offset: OffsetQuery = 0) -> dict[str, Any]:
    return {"jobs": svc.jobs.latest(min(max(limit, 1), 500), max(offset, 0))}


@router.get("/jobs/{job_id}", response_model=JobOut, responses=errors(404))
def get_job(job_id: IdPath, svc: ServiceDep) -> dict[str, Any]:
    job = svc.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, "job not found")
    return job


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, responses=errors(404))
def cancel_job(job_id: IdPath, svc: ServiceDep) -> dict[str, Any]:
    """Cancel a job: a queued job at once; a running one once the file in progress is finished."""
    job = svc.jobs.cancel(job_id)
    if job is None:
        raise HTTPException(404, "job not found")
    return job
