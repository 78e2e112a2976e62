"""Ingestion jobs: list (latest first), get, cancel (see ingest/jobs.py for the semantics).

Jobs carry file names (upload display names or local paths) but no document text. They are scoped to
their submitter (``submitted_by`` in the job's items): another user's job is a 404; administrators
see every job, CLI jobs included.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from ...service import Souverain
from ..deps import INGEST, READ, IdPath, OffsetQuery, Principal, PrincipalDep, ServiceDep
from .errors import AUTH_ERRORS, errors
from .schemas import JobOut, JobsOut

router = APIRouter(prefix="/api/v1", tags=["jobs"], responses=AUTH_ERRORS)
NOT_FOUND = "job not found"


def _visible(svc: Souverain, job_id: int, principal: Principal) -> bool:
    return principal.is_admin or svc.jobs.submitter(job_id) == principal.user.id


@router.get("/jobs", response_model=JobsOut, dependencies=[READ])
def list_jobs(svc: ServiceDep, principal: PrincipalDep, limit: int = 50, offset: OffsetQuery = 0) -> dict[str, Any]:
    who = None if principal.is_admin else principal.user.id
    return {"jobs": svc.jobs.latest(min(max(limit, 1), 500), max(offset, 0), who)}


@router.get("/jobs/{job_id}", response_model=JobOut, responses=errors(404), dependencies=[READ])
def get_job(job_id: IdPath, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    job = svc.jobs.get(job_id)
    if job is None or not _visible(svc, job_id, principal):
        raise HTTPException(404, NOT_FOUND)
    return job


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, responses=errors(404), dependencies=[INGEST])
def cancel_job(job_id: IdPath, svc: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Cancel a job: a queued job at once; a running one once the file in progress is finished."""
    if svc.jobs.get(job_id) is None or not _visible(svc, job_id, principal):
        raise HTTPException(404, NOT_FOUND)
    job = svc.jobs.cancel(job_id)
    if job is None:
        raise HTTPException(404, NOT_FOUND)
    return job
