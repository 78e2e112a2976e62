"""Chat models behind an OpenAI-compatible ``/v1/chat/completions`` server (vLLM, Ollama, llama.cpp).

Design facts:

- One ``httpx.Client`` per instance (connection reuse); ``close()`` or use as a context manager.
  ``base_url`` may be given with or without the ``/v1`` suffix. Tests pass an
  ``httpx.MockTransport`` or point at a real local server; nothing here is mocked.
- Streaming follows the documented SSE framing: ``data: {json}`` lines, blank-line separated,
  ending with ``data: [DONE]``. Comment lines (``:``) and other fields are ignored; an ``error``
  object inside the stream becomes an ``LLMError``.
- Usage numbers are taken from the response when the server sends them; otherwise they are
  estimates (``base.estimate_tokens``) and the ``Completion`` says so (``usage_exact=False``).
- ``count_tokens`` is always an estimate: the OpenAI API has no tokenizer endpoint.
- The API key is sent as ``Authorization: Bearer`` and never appears in a repr or an error
  (see ``_openai_http``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from ._openai_http import api_root, auth_headers, describe_http_error, redact_url, scrub, server_message
from .base import ChatMessage, Completion, GenerationParams, LLMError, estimate_tokens


class OpenAICompatLLM:
    """A chat model served over the OpenAI chat-completions API."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = httpx.Timeout(120.0, connect=5.0),
        context_window: int = 8192,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        try:
            self._root = api_root(base_url)
        except ValueError as exc:
            raise LLMError(str(exc)) from exc
        self.name = model
        self.model = model
        self.context_window = context_window
        self._api_key = api_key
        self._client = httpx.Client(headers=auth_headers(api_key), timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"OpenAICompatLLM(base_url={redact_url(self._root)!r}, model={self.model!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatLLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- requests -------------------------------------------------------------------------------

    def _body(self, messages: Sequence[ChatMessage], params: GenerationParams, stream: bool) -> dict[str, Any]:
        if not messages:
            raise LLMError("no messages to complete")
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.as_dict() for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": stream,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        return body

    def _where(self) -> str:
        return f"{redact_url(self._root)}/chat/completions ({self.model})"

    def _fail(self, response: httpx.Response) -> LLMError:
        return LLMError(
            f"{self._where()} answered HTTP {response.status_code}: {server_message(response, self._api_key)}"
        )

    def _unreachable(self, exc: httpx.HTTPError) -> LLMError:
        return LLMError(f"cannot reach LLM server {self._where()}: {describe_http_error(exc, self._api_key)}")

    def complete(self, messages: Sequence[ChatMessage], params: GenerationParams | None = None) -> Completion:
        params = params or GenerationParams()
        body = self._body(messages, params, stream=False)
        started = time.perf_counter()
        try:
            response = self._client.post(f"{self._root}/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        seconds = time.perf_counter() - started
        if not response.is_success:
            raise self._fail(response)
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMError(
                f"{self._where()} sent a malformed completion: {scrub(response.text[:200], self._api_key)!r}"
            ) from exc
        usage = data.get("usage") or {}
        exact = isinstance(usage.get("prompt_tokens"), int) and isinstance(usage.get("completion_tokens"), int)
        if exact:
            prompt_tokens, completion_tokens = usage["prompt_tokens"], usage["completion_tokens"]
        else:
            prompt_tokens = sum(estimate_tokens(m.content) for m in messages)
            completion_tokens = estimate_tokens(text)
        return Completion(
            text=text,
            model=str(data.get("model") or self.model),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=choice.get("finish_reason") or "stop",
            seconds=seconds,
            usage_exact=exact,
        )

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams | None = None) -> Iterator[str]:
        params = params or GenerationParams()
        body = self._body(messages, params, stream=True)
        return self._stream(body)

    def _stream(self, body: dict[str, Any]) -> Iterator[str]:
        try:
            with self._client.stream("POST", f"{self._root}/chat/completions", json=body) as response:
                if not response.is_success:
                    raise self._fail(response)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, ": keep-alive" comments, "event:" fields
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    delta = self._delta(payload)
                    if delta:
                        yield delta
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc

    def _delta(self, payload: str) -> str:
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise LLMError(
                f"{self._where()} sent a malformed stream event: {scrub(payload[:200], self._api_key)!r}"
            ) from exc
        if not isinstance(event, dict):
            raise LLMError(f"{self._where()} sent a malformed stream event")
        if event.get("error"):
            error = event["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise LLMError(f"{self._where()} failed mid-stream: {scrub(str(message), self._api_key)}")
        choices = event.get("choices") or []
        if not choices:
            return ""  # e.g. the final usage-only chunk
        return (choices[0].get("delta") or {}).get("content") or ""

    def count_tokens(self, text: str) -> int:
        """An estimate (~4 UTF-8 bytes a token); the OpenAI API exposes no tokenizer."""
        return estimate_tokens(text)
