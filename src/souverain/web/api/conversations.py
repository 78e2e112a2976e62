"""Conversations: CRUD, Markdown export, and questions asked inside a conversation.

``POST /conversations/{id}/messages`` answers like ``/ask`` (JSON, or SSE ``delta``… ``answer``)
and stores both turns once the answer is complete; a failed answer stores nothing. Follow-up
handling (the rewritten retrieval query, chat history for generative mode) is in
assistant/conversations.py. Conversations are scoped to their owner; another owner's id is a 404.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from ...assistant.conversations import chat_history, retrieval_query
from ..deps import ASK, AccessDep, IdPath, OffsetQuery, OwnerDep, ServiceDep
from .ask import public_answer, sse_response
from .errors import AUTH_ERRORS, errors
from .schemas import ConversationDetailOut, ConversationOut, ConversationsOut
from .search import FiltersIn

router = APIRouter(prefix="/api/v1", tags=["conversations"], dependencies=[ASK], responses=AUTH_ERRORS)
NOT_FOUND = "conversation not found"


class ConversationIn(BaseModel):
    title: str | None = Field(default=None, max_length=200)


class RenameIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)


class MessageIn(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    mode: Literal["extractive", "generative"] | None = None
    stream: bool = False
    filters: FiltersIn = FiltersIn()


@router.get("/conversations", response_model=ConversationsOut)
def list_conversations(svc: ServiceDep, owner: OwnerDep, limit: int = 100, offset: OffsetQuery = 0) -> dict[str, Any]:
    return {"conversations": svc.conversations.for_owner(owner, min(max(limit, 1), 1000), max(offset, 0))}


@router.post("/conversations", status_code=201, response_model=ConversationOut, responses=errors(400))
def create_conversation(svc: ServiceDep, owner: OwnerDep, body: ConversationIn | None = None) -> dict[str, Any]:
    return svc.conversations.create(owner, body.title if body else None)


@router.get("/conversations/{conv_id}", response_model=ConversationDetailOut, responses=errors(404))
def get_conversation(conv_id: IdPath, svc: ServiceDep, owner: OwnerDep) -> dict[str, Any]:
    conv = svc.conversations.get(owner, conv_id)
    if conv is None:
        raise HTTPException(404, NOT_FOUND)
    return conv


@router.patch("/conversations/{conv_id}", response_model=ConversationOut, responses=errors(400, 404))
def rename_conversation(conv_id: IdPath, body: RenameIn, svc: ServiceDep, owner: OwnerDep) -> dict[str, Any]:
    conv = svc.conversations.rename(owner, conv_id, body.title)
    if conv is None:
        raise HTTPException(404, NOT_FOUND)
    return conv


@router.delete("/conversations/{conv_id}", status_code=204, responses=errors(404))
def delete_conversation(conv_id: IdPath, svc: ServiceDep, owner: OwnerDep) -> Response:
    if not svc.conversations.delete(owner, conv_id):
        raise HTTPException(404, NOT_FOUND)
    return Response(status_code=204)


@router.get("/conversations/{conv_id}/export", responses=errors(404))
def export_conversation(conv_id: IdPath, svc: ServiceDep, owner: OwnerDep) -> Response:
    """The conversation as Markdown: questions, answers, numbered sources with quotes, an AI-generated note."""
    text = svc.conversations.export(owner, conv_id)
    if text is None:
        raise HTTPException(404, NOT_FOUND)
    return Response(text, media_type="text/markdown; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="conversation-{conv_id}.md"'})


@router.post("/conversations/{conv_id}/messages", responses=errors(400, 404, 503))
def ask_in_conversation(conv_id: IdPath, body: MessageIn, svc: ServiceDep, access: AccessDep, owner: OwnerDep) -> Any:
    """Answer like /ask, using the conversation's earlier turns for follow-up questions; stores both turns."""
    conv = svc.conversations.get(owner, conv_id)
    if conv is None:
        raise HTTPException(404, NOT_FOUND)
    history = conv["messages"]
    mode = svc.resolve_mode(body.mode)
    assistant = svc.assistant(mode)
    question = body.question.strip()
    kwargs: dict[str, Any] = {"retrieval_query": retrieval_query(history, question),
                              "history": chat_history(history) if mode == "generative" else ()}

    def store(answer: dict[str, Any]) -> None:
        svc.conversations.add_turn(owner, conv_id, question, answer)

    filters = body.filters.to_filters()
    if not body.stream:
        answer = public_answer(assistant.ask(question, access, filters, mode, **kwargs).as_dict())  # type: ignore[arg-type]
        store(answer)
        return answer
    return sse_response(assistant.ask_stream(question, access, filters, mode, **kwargs), store)  # type: ignore[arg-type]
