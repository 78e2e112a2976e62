"""OpenAI-shaped errors for the ``/v1`` gateway: ``{"error": {"message", "type", "param", "code"}}``.

Every failure of a ``/v1`` route is one ``GatewayError`` (status code, type, code, optional param and
headers); the app turns it into the JSON body the OpenAI client libraries parse. Request validation
errors and unknown ``/v1`` routes are mapped to the same shape (``web/app.py``), so an OpenAI client
never sees FastAPI's ``{"detail": ...}`` there.

Status codes and codes:

====  ===========================  ===============================================================
400   invalid_request_error        a malformed body or a value the model cannot honour (``param`` set)
401   invalid_request_error        ``invalid_api_key``: no, malformed, unknown, revoked or expired key
403   permission_error             ``insufficient_scope`` (key without ``models``) or ``model_not_allowed``
404   invalid_request_error        ``model_not_found``
429   requests / tokens            ``rate_limit_exceeded`` with a ``Retry-After`` header (seconds)
503   server_error                 ``model_suspended`` (admin action) or ``model_unavailable``
====  ===========================  ===============================================================
"""

from __future__ import annotations

import math
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel


class GatewayError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(status_code=self.status, content=self.body(), headers=self.headers)


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, "invalid_request_error", code, param)


def invalid_api_key(message: str = "invalid API key: send 'Authorization: Bearer sv_...' with a valid, "
                    "unrevoked Souverain API key") -> GatewayError:
    return GatewayError(401, message, "invalid_request_error", "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


def permission_denied(message: str, code: str = "insufficient_scope") -> GatewayError:
    return GatewayError(403, message, "permission_error", code)


def model_not_found(model: str) -> GatewayError:
    return GatewayError(404, f"the model {model!r} does not exist in this gateway; GET /v1/models lists the models "
                        "you can use", "invalid_request_error", "model_not_found", "model")


def rate_limited(message: str, retry_after: float, kind: str = "requests") -> GatewayError:
    seconds = max(1, math.ceil(retry_after)) if math.isfinite(retry_after) else 60
    type_ = "tokens" if "token" in kind else "requests"
    return GatewayError(429, message, type_, "rate_limit_exceeded", headers={"Retry-After": str(seconds)})


def model_suspended(model: str, reason: str) -> GatewayError:
    why = f": {reason}" if reason else ""
    return GatewayError(503, f"the model {model!r} is suspended by an administrator{why}", "server_error",
                        "model_suspended", "model")


def model_unavailable(message: str) -> GatewayError:
    return GatewayError(503, message, "server_error", "model_unavailable")


# OpenAPI -----------------------------------------------------------------------------------------

class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorOut(BaseModel):
    error: ErrorDetail


DESCRIPTIONS = {
    400: "invalid_request_error: the body is malformed, or asks for something the model cannot do",
    401: "invalid_api_key: no valid 'Authorization: Bearer sv_...' key",
    403: "permission_error: the key lacks the 'models' scope, or the model is not allowed for this key",
    404: "model_not_found: no such model alias",
    429: "rate_limit_exceeded: a request, token or monthly limit is reached; retry after Retry-After seconds",
    503: "server_error: the model is suspended by an administrator, or no backend for it is reachable",
}


def openai_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": OpenAIErrorOut, "description": DESCRIPTIONS[code]} for code in codes}
