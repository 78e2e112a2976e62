"""What every backend speaks: the request and result types, the ``Backend`` protocol, message helpers.

Design facts:

- A chat request is validated once by the API into a ``ChatParams`` that any backend can serve; fields
  the gateway does not know stay in ``extra`` and are forwarded only to upstream servers.
- A streamed answer is a ``ChatStream`` of ``ChatDelta``; its ``usage`` (prompt, completion, exact) is
  known only once it is exhausted. Closing it frees the model (an in-process stream holds its lock).
- ``BackendFailure`` means "this backend could not answer" (down, timed out, 5xx): the pool tries the
  next fallback. A ``GatewayError`` (errors.py) is the client's problem and is never routed elsewhere.
- Token counts: ``count_prompt`` returns ``(tokens, exact)``; a backend that cannot count exactly
  estimates (``prompt_estimate``: ~4 characters a token plus 4 per message) and says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..llm.base import LLMError, estimate_tokens
from . import errors
from .models import ModelEntry

log = logging.getLogger(__name__)


# requests and results ------------------------------------------------------------------------------

@dataclass
class ChatParams:
    """A validated chat request, ready for any backend."""

    messages: list[dict[str, Any]]
    max_tokens: int
    max_tokens_key: str = "max_tokens"  # the client's own spelling, forwarded as is ("max_completion_tokens")
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    extra: dict[str, Any] = field(default_factory=dict)  # other body fields, for upstream servers only

    @property
    def needs_tools(self) -> bool:
        return bool(self.tools) or any(m.get("role") == "tool" or m.get("tool_calls") for m in self.messages)


@dataclass
class ChatDelta:
    content: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None

    @property
    def is_output(self) -> bool:
        return bool(self.content or self.reasoning or self.tool_calls)


@dataclass
class ChatResult:
    content: str | None
    reasoning: str
    tool_calls: list[dict[str, Any]] | None
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    usage_exact: bool
    extra_message: dict[str, Any] = field(default_factory=dict)  # other fields of an upstream message


class ChatStream:
    """An iterator of ``ChatDelta``; ``usage`` (prompt, completion, exact) is known once it is exhausted."""

    def __init__(self, deltas: Iterator[ChatDelta]) -> None:
        self._deltas = deltas
        self.usage: tuple[int, int, bool] | None = None
        self.finish_reason: str | None = None

    def __iter__(self) -> Iterator[ChatDelta]:
        return self

    def __next__(self) -> ChatDelta:
        delta = next(self._deltas)
        if delta.finish_reason:
            self.finish_reason = delta.finish_reason
        return delta

    def close(self) -> None:
        close = getattr(self._deltas, "close", None)
        if close is not None:
            close()


@dataclass
class EmbeddingResult:
    vectors: list[Any]  # lists of floats, or base64 strings passed through from upstream
    prompt_tokens: int
    usage_exact: bool


class BackendFailure(Exception):
    """The backend could not answer (down, timed out, 5xx): the next fallback may."""


class Backend(Protocol):
    entry: ModelEntry

    def healthy(self) -> bool: ...

    def check(self, params: ChatParams) -> None: ...

    def count_prompt(self, messages: list[dict[str, Any]]) -> tuple[int, bool]: ...

    def count_tokens(self, text: str) -> int: ...

    def complete(self, params: ChatParams) -> ChatResult: ...

    def stream(self, params: ChatParams) -> ChatStream: ...

    def embed(self, inputs: list[str], body: dict[str, Any]) -> EmbeddingResult: ...

    def close(self) -> None: ...


# message helpers ------------------------------------------------------------------------------------

def text_of(content: Any, where: str = "messages") -> str:
    """A message's text: a string, or the text parts of a content-parts list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise errors.invalid_request(f"content parts of type {kind!r} are not supported by this model "
                                             "(text only)", where)
        return "".join(texts)
    raise errors.invalid_request("a message's content must be a string or a list of content parts", where)


def prompt_estimate(messages: list[dict[str, Any]]) -> int:
    total = 0
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False) if content else ""
        total += estimate_tokens(text) + 4
        if m.get("tool_calls"):
            total += estimate_tokens(json.dumps(m["tool_calls"], ensure_ascii=False))
    return total


def count_prompt_or_estimate(backend: Backend, messages: list[dict[str, Any]]) -> tuple[int, bool]:
    """``backend.count_prompt``, or the estimate when its model does not load (the pool tries the fallbacks)."""
    try:
        return backend.count_prompt(messages)
    except LLMError as exc:
        log.warning("cannot count prompt tokens with %s: %s", backend.entry.alias, exc)
        return prompt_estimate(messages), False
