"""POST /api/v1/ask: JSON, or Server-Sent Events when ``stream`` is true.

SSE events: ``delta`` (a piece of answer text, JSON string), then one ``answer`` event with the
full checked answer object (the streamed text may still contain sentences that verification
flags; the ``answer`` event is authoritative), or an ``error`` event.

A generative answer carries ``energy``: ``{wh, gco2e, method, note}`` from the usage record its metered
model call wrote (docs/metering.md; ``gco2e`` null when no grid factor is configured, ``note`` says why),
or null when the ledger has no energy for it (a model of unknown size). Extractive answers have none.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ...gateway.backends import current_scope
from ..deps import ASK, AccessDep, ServiceDep
from .errors import AUTH_ERRORS, errors
from .search import FiltersIn

log = logging.getLogger(__name__)
MODEL_FAILURE = "the answer could not be produced: the language model failed or is unreachable (details in the server log)"

router = APIRouter(prefix="/api/v1", tags=["ask"], dependencies=[ASK], responses=AUTH_ERRORS)


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    mode: Literal["extractive", "generative"] | None = None
    stream: bool = False
    filters: FiltersIn = FiltersIn()


def public_answer(d: dict[str, Any]) -> dict[str, Any]:
    d["chunks"] = [{"document": h["doc_uri"], "title": h["title"], "page": h["page"], "score": h["score"],
                    "text": h["text"], "char_start": h["char_start"], "char_end": h["char_end"]} for h in d["chunks"]]
    if d.get("mode") == "generative" and "energy" not in d:
        d["energy"] = answer_energy(d)
    return d


def answer_energy(d: dict[str, Any]) -> dict[str, Any] | None:
    """The energy of the generative answer just produced in this web request: the usage record that the
    assistant's ``MeteredLLM`` settled for it and noted on the request (``state.souverain_usage_ids``);
    None when there is none (no model call, e.g. nothing retrieved) or it has no energy."""
    scope = current_scope.get()
    app = scope.get("app") if scope is not None else None
    svc = getattr(getattr(app, "state", None), "souverain", None)
    ids = ((scope or {}).get("state") or {}).get("souverain_usage_ids") or []
    if svc is None or not ids:
        return None
    try:
        found = svc.gateway_accounting.records("id = ?", (ids[-1],))
    except Exception as exc:  # the figure is informative: never fail an answer for it
        log.warning("cannot read the energy of the answer: %s: %s", type(exc).__name__, exc)
        return None
    rec = found[-1] if found else None
    if rec is None or rec.get("energy_kwh") is None:
        return None
    return {"wh": rec["energy_kwh"] * 1000, "gco2e": rec.get("gco2e"), "method": rec.get("method"),
            "note": rec.get("energy_note") or None}


@router.post("/ask", responses=errors(400, 503))
def ask(body: AskIn, svc: ServiceDep, access: AccessDep) -> Any:
    """Answer a question with checked citations (document, title, page, quote, span)."""
    mode = svc.resolve_mode(body.mode)
    assistant = svc.assistant(mode)
    filters = body.filters.to_filters()
    if not body.stream:
        return public_answer(assistant.ask(body.question, access, filters, mode).as_dict())  # type: ignore[arg-type]
    return sse_response(assistant.ask_stream(body.question, access, filters, mode))  # type: ignore[arg-type]


def sse_response(stream: Iterable[tuple[str, Any]],
                 on_answer: Callable[[dict[str, Any]], None] | None = None) -> StreamingResponse:
    """``delta`` events, then one ``answer`` event (``on_answer`` sees it first), or an ``error`` event."""

    def events() -> Iterator[str]:
        try:
            for kind, payload in stream:
                if kind == "delta":
                    yield f"event: delta\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
                else:
                    answer = public_answer(payload.as_dict())
                    if on_answer:
                        on_answer(answer)
                    yield f"event: answer\ndata: {json.dumps(answer, ensure_ascii=False, default=str)}\n\n"
        except ValueError as exc:  # bad input: the message is for the user
            yield f"event: error\ndata: {json.dumps(str(exc))}\n\n"
        except Exception as exc:  # backend failure: details go to the log only (they may name internal hosts)
            log.error("answer stream failed: %s: %s", type(exc).__name__, exc)
            yield f"event: error\ndata: {json.dumps(MODEL_FAILURE)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
