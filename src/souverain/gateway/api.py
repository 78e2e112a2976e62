"""The OpenAI-compatible ``/v1`` API (docs/gateway.md); the admin model routes are in ``api_admin``.

Routes (``Authorization: Bearer sv_...``, a key with the ``models`` scope; sessions are not accepted):

- ``GET /v1/models`` and ``GET /v1/models/{model}``: the OpenAI list shape, each model's card under
  ``souverain`` (backend, size, languages, licence, intended use, limitations, country, status);
- ``POST /v1/chat/completions``: JSON, or Server-Sent Events with ``stream: true`` (``sse``: OpenAI
  chunks, ending with ``data: [DONE]``; ``stream_options.include_usage`` adds the usage chunk);
  reasoning split out into ``reasoning_content``; usage with an ``energy`` object; headers
  ``X-Souverain-Energy-Wh``, ``X-Souverain-CO2e-g`` (non-streamed answers), ``X-Souverain-Model`` (the
  alias that answered);
- ``POST /v1/embeddings``.

Design facts:

- Every request: count the prompt tokens (the primary backend's tokenizer, exact in-process), admit it
  (``Accounting.admit``: 429/403 when a limit refuses), run the model (fallbacks), settle with the real
  counts, the latency, the time to first token (streamed answers) and the energy, whatever happened:
  ``ok``, ``error`` or ``cancelled`` (the client went away), so a reservation never leaks.
- The routes are sync (``def``): FastAPI runs them in its thread pool, so a blocking model call or an
  upstream HTTP call never blocks the event loop.
- Errors under ``/v1`` are in the OpenAI shape ``{"error": {"message", "type", "param", "code"}}``
  (``install_gateway``'s handlers), everywhere else in Souverain's ``{"detail": ...}``.
- Credentials in a URL are refused (400), whatever the key.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from ..governance.api_keys import parse_key
from ..governance.identity import User
from ..service import Souverain
from ..web.deps import KEY_PARAM_NAMES, ROLE_SCOPES
from . import errors
from .api_admin import admin_router
from .backends import Gateway
from .metered import Metered, current_scope, energy_headers, usage_json
from .models import ModelEntry
from .protocol import ChatParams, ChatResult, count_prompt_or_estimate
from .reasoning import ReasoningSplitter
from .sse import SSEResponse, close_stream, sse_events

log = logging.getLogger(__name__)

SCOPE = "models"
MAX_STOP = 4
MAX_EMBEDDING_INPUTS = 2048

router = APIRouter(prefix="/v1", tags=["openai"])


# the caller ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    user: User
    key_id: int | None


def get_caller(request: Request) -> Caller:
    """A valid ``sv_`` key with the ``models`` scope (in the key and allowed by its user's role)."""
    for name, value in request.query_params.multi_items():
        if name.lower() in KEY_PARAM_NAMES or value.strip().lower().startswith("sv_"):
            raise errors.invalid_request("credentials are never accepted in a URL; send 'Authorization: Bearer <key>' "
                                         "(and revoke the key that was sent: it is in logs now)")
    svc = request.app.state.souverain
    scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise errors.invalid_api_key("no API key: send 'Authorization: Bearer sv_...'")
    grant = svc.identity.authenticate_api_key(key)
    if grant is None:
        raise errors.invalid_api_key()
    scopes = frozenset(grant.scopes) & ROLE_SCOPES.get(grant.user.role, frozenset())
    if SCOPE not in scopes:
        raise errors.permission_denied(f"this API key lacks the {SCOPE!r} scope needed for /v1 (or the role "
                                       f"{grant.user.role!r} does not allow it); create a key with the {SCOPE!r} scope")
    key_id = getattr(grant, "key_id", None)
    if key_id is None:
        parsed = parse_key(key)
        found = svc.identity.tables.key_with_hash(parsed.public_id) if parsed else None
        key_id = found[0].id if found else None
    return Caller(grant.user, key_id)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_service(request: Request) -> Souverain:
    """The service, like ``web.deps.get_service`` but ``async``: FastAPI runs a sync dependency in its thread
    pool, a hop that cost ~0.3-0.5 ms a request here (bench/gateway.py) for reading one attribute."""
    svc: Souverain = request.app.state.souverain
    return svc


ServiceDep = Annotated[Souverain, Depends(get_service)]
ALL_ERRORS = errors.openai_errors(400, 401, 403, 404, 429, 503)


class CallerContext:
    """Pure ASGI middleware: the request's scope in ``metered.current_scope`` (the assistant's metering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = current_scope.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            current_scope.reset(token)


# bodies ----------------------------------------------------------------------------------------------

class ChatCompletionIn(BaseModel):
    """The OpenAI chat-completions request; fields not listed are passed to upstream servers untouched."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    stop: str | list[str] | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**64 - 1)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    n: int | None = Field(default=None, ge=1, le=128)


class EmbeddingsIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1, le=65_536)
    input_type: Literal["query", "passage"] | None = Field(
        default=None, description="E5-style models: 'query' (default) or 'passage' (documents)")


class ModelOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    souverain: dict[str, Any]


class ModelListOut(BaseModel):
    object: Literal["list"]
    data: list[ModelOut]


class ChatCompletionOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any]


class EmbeddingsOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: Literal["list"]
    data: list[dict[str, Any]]
    model: str
    usage: dict[str, Any]


KNOWN_CHAT_FIELDS = frozenset(ChatCompletionIn.model_fields)


# helpers ---------------------------------------------------------------------------------------------

def _gateway(svc: Any) -> Gateway:
    return svc.gateway


def _model_json(gw: Gateway, entry: ModelEntry) -> dict[str, Any]:
    card = entry.card()
    card["status"] = gw.status(entry.alias)
    return {"id": entry.alias, "object": "model", "created": entry.created or gw.registry.created,
            "owned_by": entry.owned_by or entry.operator or "souverain", "souverain": card}


def _check_messages(messages: list[dict[str, Any]]) -> None:
    for i, m in enumerate(messages):
        role = m.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise errors.invalid_request(f"messages[{i}].role must be one of system, developer, user, assistant, tool",
                                         f"messages[{i}].role")
        content = m.get("content")
        if content is None and not (role == "assistant" and m.get("tool_calls")):
            raise errors.invalid_request(f"messages[{i}].content is missing", f"messages[{i}].content")
        if content is not None and not isinstance(content, str | list):
            raise errors.invalid_request(f"messages[{i}].content must be a string or a list of content parts",
                                         f"messages[{i}].content")


def _params(body: ChatCompletionIn) -> ChatParams:
    if body.n not in (None, 1):
        raise errors.invalid_request("only n = 1 is supported", "n")
    _check_messages(body.messages)
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stop) > MAX_STOP or any(not s for s in stop):
        raise errors.invalid_request(f"stop takes up to {MAX_STOP} non-empty strings", "stop")
    rf = body.response_format
    if rf is not None and rf.get("type") not in ("text", "json_object", "json_schema"):
        raise errors.invalid_request("response_format.type must be text, json_object or json_schema", "response_format")
    if rf is not None and rf.get("type") == "json_schema" and not isinstance(rf.get("json_schema"), dict):
        raise errors.invalid_request("response_format json_schema needs a 'json_schema' object", "response_format")
    extra = {k: v for k, v in (body.model_extra or {}).items() if k not in KNOWN_CHAT_FIELDS}
    key = "max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens"
    return ChatParams(messages=body.messages, max_tokens=body.max_completion_tokens or body.max_tokens or 0,
                      max_tokens_key=key, temperature=body.temperature, top_p=body.top_p, stop=stop, seed=body.seed,
                      response_format=rf, tools=body.tools or None, tool_choice=body.tool_choice, extra=extra)


# /v1 ---------------------------------------------------------------------------------------------------

@router.get("/models", response_model=ModelListOut, responses=errors.openai_errors(400, 401, 403))
def list_models(caller: CallerDep, svc: ServiceDep) -> dict[str, Any]:
    """The models this gateway routes (OpenAI list shape); each card under ``souverain``."""
    gw = _gateway(svc)
    return {"object": "list", "data": [_model_json(gw, e) for e in gw.registry.entries()]}


@router.get("/models/{model}", response_model=ModelOut, responses=errors.openai_errors(400, 401, 403, 404))
def get_model(model: Annotated[str, Path(max_length=200)], caller: CallerDep, svc: ServiceDep) -> dict[str, Any]:
    gw = _gateway(svc)
    entry = gw.registry.get(model)
    if entry is None:
        raise errors.model_not_found(model)
    return _model_json(gw, entry)


CHAT_200: dict[int | str, dict[str, Any]] = {200: {
    "description": "A chat completion (JSON), or with stream=true Server-Sent Events of chat.completion.chunk "
                   "objects ending with 'data: [DONE]'",
    "model": ChatCompletionOut,
    "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


@router.post("/chat/completions", response_model=None, responses={**CHAT_200, **ALL_ERRORS})
def chat_completions(body: ChatCompletionIn, caller: CallerDep, svc: ServiceDep) -> Response:
    """Chat completion, OpenAI-compatible (streaming, JSON mode, tools for upstream models, reasoning split)."""
    gw = _gateway(svc)
    entry = gw.resolve(body.model)
    params = _params(body)
    primary = gw.pool.backend(entry.alias)
    primary.check(params)
    prompt_tokens, _ = count_prompt_or_estimate(primary, params.messages)
    room = entry.context_length - prompt_tokens
    if room < 1:
        raise errors.invalid_request(f"the prompt has {prompt_tokens} tokens; the model {entry.alias!r} has a context "
                                     f"of {entry.context_length}", "messages", "context_length_exceeded")
    if not params.max_tokens:
        params.max_tokens = min(int(svc.settings.gateway_default_max_tokens), room)
    elif entry.in_process:
        params.max_tokens = min(params.max_tokens, room)
    metered = gw.admit(key_id=caller.key_id, user_id=caller.user.id, model=entry.alias, prompt_tokens=prompt_tokens,
                       max_tokens=params.max_tokens, kind="chat", endpoint="/v1/chat/completions")
    if body.stream:
        try:
            opened = gw.pool.open_stream(entry.alias, params, metered.started)
        except BaseException as exc:
            metered.settle("error", prompt_tokens=prompt_tokens, completion_tokens=0, usage_exact=False, entry=entry)
            raise _as_gateway_error(exc) from exc
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        emitted: list[str] = []
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Souverain-Model": opened.entry.alias}
        return SSEResponse(sse_events(opened, metered, params, include_usage, emitted),
                           lambda: close_stream(opened, metered, params, emitted), headers=headers)
    try:
        served, result = gw.pool.complete(entry.alias, params)
    except BaseException as exc:
        metered.settle("error", prompt_tokens=prompt_tokens, completion_tokens=0, usage_exact=False, entry=entry)
        raise _as_gateway_error(exc) from exc
    return _chat_json(served, result, metered)


def _as_gateway_error(exc: BaseException) -> BaseException:
    if isinstance(exc, errors.GatewayError) or not isinstance(exc, Exception):
        return exc
    log.error("model call failed: %s: %s", type(exc).__name__, exc)
    return errors.model_unavailable("the model failed; details are in the server log")


def _chat_json(served: ModelEntry, result: ChatResult, metered: Metered) -> Response:
    content = result.content
    reasoning = result.reasoning
    if content:
        content, think = _split_all(content)
        reasoning += think
    metered.settle("ok", prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                   usage_exact=result.usage_exact, entry=served)
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    if result.tool_calls:
        message["tool_calls"] = result.tool_calls
    for k, v in result.extra_message.items():
        message.setdefault(k, v)
    body = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": served.alias, "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": result.finish_reason}],
            "usage": usage_json(result.prompt_tokens, result.completion_tokens, metered, result.usage_exact)}
    headers = {"X-Souverain-Model": served.alias, **energy_headers(metered.energy)}
    if metered.record_id:
        headers["X-Souverain-Usage-Record"] = str(metered.record_id)
    return JSONResponse(body, headers=headers)


def _split_all(text: str) -> tuple[str, str]:
    splitter = ReasoningSplitter()
    c1, r1 = splitter.feed(text)
    c2, r2 = splitter.flush()
    return c1 + c2, r1 + r2

@router.post("/embeddings", response_model=EmbeddingsOut, responses=ALL_ERRORS)
def embeddings(body: EmbeddingsIn, caller: CallerDep, svc: ServiceDep) -> Response:
    """Embeddings, OpenAI-compatible (the bundled multilingual-e5-small, or an upstream embeddings model)."""
    gw = _gateway(svc)
    entry = gw.resolve(body.model, embeddings=True)
    raw = body.input
    if not isinstance(raw, str) and len(raw) > MAX_EMBEDDING_INPUTS:
        raise errors.invalid_request(f"at most {MAX_EMBEDDING_INPUTS} inputs per request", "input")
    texts = [raw] if isinstance(raw, str) else [x for x in raw if isinstance(x, str)]
    if len(texts) != (1 if isinstance(raw, str) else len(raw)):  # token arrays
        if entry.in_process:
            raise errors.invalid_request("token arrays are not supported by in-process models; send text", "input")
        texts = []
    elif not texts or any(not t for t in texts):
        raise errors.invalid_request("input must be a non-empty string or a list of non-empty strings", "input")
    primary = gw.pool.backend(entry.alias)
    dim = getattr(getattr(primary, "embedder", None), "dim", None)
    if entry.in_process and body.dimensions is not None and body.dimensions != dim:
        raise errors.invalid_request(f"{entry.alias!r} has {dim} dimensions and cannot shorten them", "dimensions")
    if texts:
        prompt_tokens = sum(primary.count_tokens(t) for t in texts)
    else:  # token arrays for an upstream model: their length is the count
        prompt_tokens = sum(len(x) if isinstance(x, list) else 1 for x in raw)
    metered = gw.admit(key_id=caller.key_id, user_id=caller.user.id, model=entry.alias, prompt_tokens=prompt_tokens,
                       max_tokens=0, kind="embeddings", endpoint="/v1/embeddings")
    forward = body.model_dump(exclude_none=True)
    try:
        served, result = gw.pool.embed(entry.alias, texts, forward)
    except BaseException as exc:
        metered.settle("error", prompt_tokens=prompt_tokens, completion_tokens=0, usage_exact=False, entry=entry)
        raise _as_gateway_error(exc) from exc
    metered.settle("ok", prompt_tokens=result.prompt_tokens, completion_tokens=0, usage_exact=result.usage_exact,
                   entry=served)
    data = []
    for i, vec in enumerate(result.vectors):
        if served.in_process and body.encoding_format == "base64":
            vec = base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode("ascii")
        data.append({"object": "embedding", "index": i, "embedding": vec})
    out = {"object": "list", "data": data, "model": served.alias,
           "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens,
                     "exact": result.usage_exact, "record_id": metered.record_id}}
    return JSONResponse(out, headers={"X-Souverain-Model": served.alias})


# installation ------------------------------------------------------------------------------------------

def _is_v1(request: Request) -> bool:
    return request.url.path == "/v1" or request.url.path.startswith("/v1/")


def install_gateway(app: FastAPI, svc: Any) -> None:
    """Build the gateway now (the residency check refuses the start here), add its routes and error handlers."""
    _ = svc.gateway
    app.add_middleware(CallerContext)
    app.include_router(router)
    app.include_router(admin_router)

    @app.exception_handler(errors.GatewayError)
    async def _gateway_error(request: Request, exc: errors.GatewayError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if not _is_v1(request):
            return await request_validation_exception_handler(request, exc)
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(x) for x in first.get("loc", ()) if x != "body"]
        where = ".".join(loc)
        message = f"{where}: {first.get('msg', 'invalid value')}" if where else str(first.get("msg", "invalid request"))
        return errors.invalid_request(f"invalid request: {message}", where or None).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if not _is_v1(request):
            return await http_exception_handler(request, exc)
        type_ = {401: "invalid_request_error", 403: "permission_error", 404: "invalid_request_error"}.get(
            exc.status_code, "invalid_request_error" if exc.status_code < 500 else "server_error")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return errors.GatewayError(exc.status_code, str(exc.detail), type_, code,
                                   headers=dict(exc.headers or {})).response()
