"""Error responses declared in the OpenAPI schema: every non-validation error is ``{"detail": "..."}``.

FastAPI documents 422 (request validation) by itself; routes declare the other codes they can
return with ``responses=errors(...)`` so clients (and the schemathesis test) know every status.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

DESCRIPTIONS = {
    400: "Bad request: the body could not be parsed, or a value is not usable",
    401: "Not signed in (no valid session cookie or API key)",
    403: "Signed in, but not allowed: a missing scope or role, or a missing/wrong X-CSRF-Token header",
    404: "Not found (also for anything the caller may not read)",
    409: "Conflict with the stored state",
    429: "Too many failed sign-in attempts from this username or address; wait for Retry-After seconds",
    502: "The identity provider is unreachable or misconfigured",
    503: "The language model failed or is unreachable (details only in the server log)",
}


class ErrorOut(BaseModel):
    detail: str


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut, "description": DESCRIPTIONS[code]} for code in codes}


AUTH_ERRORS = errors(400, 401, 403)  # 400: an API key in the query string
