"""Upstream OpenAI-compatible servers (vLLM, TGI, Ollama, llama.cpp server, a hosted API).

Design facts:

- The request body is forwarded as sent (``tools``, ``tool_choice``, ``response_format``, ``stop``,
  unknown fields…), with ``model`` replaced by the upstream id; a streamed request always asks for
  ``stream_options.include_usage`` (the ledger needs the real counts).
- Connect errors and HTTP 429/502/503/504 are retried (``max_retries``, exponential backoff from 0.25 s,
  or the server's ``Retry-After`` when it is at most ``gateway_retry_max_wait_s``; a longer one gives up
  on this backend at once). A 400/413/422 from upstream is the client's error and is returned as a 400,
  never retried or routed elsewhere. Anything else is a ``BackendFailure`` (the next fallback may answer).
- Health: ``GET {base_url}/models``, cached ``gateway_health_ttl_s`` seconds; a connect failure after
  the last retry marks the backend down for that long.
- Usage: the server's ``usage`` when it sends integer counts (``exact``), else an estimate.
- The API key never appears in an error or a log line (``scrub``, ``redact_url``).
- One ``httpx.Client`` (connection pool) per backend, shared by all requests' threads.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from ..llm._openai_http import api_root, auth_headers, describe_http_error, redact_url, scrub, server_message
from ..llm.base import estimate_tokens
from ..sources.http import retry_after_seconds as parse_retry_after
from . import errors
from .models import ModelEntry
from .protocol import BackendFailure, ChatDelta, ChatParams, ChatResult, ChatStream, EmbeddingResult, prompt_estimate

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 502, 503, 504})
CLIENT_ERROR_STATUS = frozenset({400, 413, 422})
BACKOFF_S = 0.25
HEALTH_TIMEOUT_S = 2.0


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The upstream's ``Retry-After`` in seconds (delta or HTTP date), or None."""
    return parse_retry_after(response.headers.get("retry-after"))


class UpstreamBackend:
    def __init__(self, entry: ModelEntry, api_key: str | None, *, max_wait_s: float = 10.0, health_ttl_s: float = 5.0,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.entry = entry
        self._root = api_root(entry.base_url)
        self._key = api_key
        self._max_wait = max_wait_s
        self._health_ttl = health_ttl_s
        self._sleep = sleep
        self._client = httpx.Client(headers=auth_headers(api_key), transport=transport,
                                    timeout=httpx.Timeout(entry.timeout_s, connect=min(5.0, entry.timeout_s)))
        self._health: tuple[float, bool] | None = None
        self._health_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"UpstreamBackend({self.entry.alias!r}, {redact_url(self._root)!r}, model={self.entry.model!r})"

    def _where(self, path: str) -> str:
        return f"{redact_url(self._root)}{path} ({self.entry.alias})"

    def healthy(self) -> bool:
        now = time.monotonic()
        with self._health_lock:
            if self._health is not None and now - self._health[0] < self._health_ttl:
                return self._health[1]
        try:
            r = self._client.get(f"{self._root}/models", timeout=HEALTH_TIMEOUT_S)
            ok = r.status_code < 500 and r.status_code not in (401, 403)
            if not ok:
                log.warning("model %s: health check %s answered HTTP %d", self.entry.alias, self._where("/models"),
                            r.status_code)
        except httpx.HTTPError as exc:
            log.warning("model %s: health check failed: %s", self.entry.alias, describe_http_error(exc, self._key))
            ok = False
        with self._health_lock:
            self._health = (time.monotonic(), ok)
        return ok

    def mark_down(self) -> None:
        with self._health_lock:
            self._health = (time.monotonic(), False)

    def check(self, params: ChatParams) -> None:
        return None

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def count_prompt(self, messages: list[dict[str, Any]]) -> tuple[int, bool]:
        return prompt_estimate(messages), False

    def _body(self, params: ChatParams, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = dict(params.extra)
        body.update({"model": self.entry.model, "messages": params.messages, params.max_tokens_key: params.max_tokens,
                     "stream": stream})
        for key in ("temperature", "top_p", "seed", "response_format", "tools", "tool_choice"):
            value = getattr(params, key)
            if value is not None:
                body[key] = value
        if params.stop:
            body["stop"] = params.stop
        if stream:
            body["stream_options"] = {"include_usage": True}  # the ledger needs the real counts
        return body

    def _send(self, path: str, body: dict[str, Any], stream: bool) -> httpx.Response:
        """POST with retries; a successful (2xx) response, open when ``stream``. Raises BackendFailure or a 400."""
        url = f"{self._root}{path}"
        attempts = self.entry.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                request = self._client.build_request("POST", url, json=body)
                response = self._client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if last:
                    self.mark_down()
                    raise BackendFailure(f"cannot reach {self._where(path)}: "
                                         f"{describe_http_error(exc, self._key)}") from exc
                self._sleep(BACKOFF_S * 2**attempt)
                continue
            except httpx.HTTPError as exc:
                raise BackendFailure(f"{self._where(path)}: {describe_http_error(exc, self._key)}") from exc
            if response.is_success:
                return response
            message = server_message(response, self._key)
            response.close()
            if response.status_code in CLIENT_ERROR_STATUS:
                raise errors.invalid_request(f"the model server of {self.entry.alias!r} refused the request: {message}")
            if response.status_code in RETRY_STATUS and not last:
                wait = retry_after_seconds(response)
                if wait is not None and wait > self._max_wait:
                    raise BackendFailure(f"{self._where(path)} answered HTTP {response.status_code} and asks to retry "
                                         f"after {wait:.0f} s (more than {self._max_wait:.0f} s): {message}")
                self._sleep(BACKOFF_S * 2**attempt if wait is None else wait)
                continue
            raise BackendFailure(f"{self._where(path)} answered HTTP {response.status_code}: {message}")
        raise AssertionError("unreachable")

    def _json(self, response: httpx.Response, path: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise BackendFailure(f"{self._where(path)} sent a malformed response: "
                                 f"{scrub(response.text[:200], self._key)!r}") from exc
        if not isinstance(data, dict):
            raise BackendFailure(f"{self._where(path)} sent a malformed response")
        return data

    def complete(self, params: ChatParams) -> ChatResult:
        response = self._send("/chat/completions", self._body(params, False), stream=False)
        data = self._json(response, "/chat/completions")
        try:
            choice = data["choices"][0]
            message = dict(choice["message"])
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendFailure(f"{self._where('/chat/completions')} sent a completion without choices") from exc
        content = message.pop("content", None)
        reasoning = message.pop("reasoning_content", None) or message.pop("reasoning", None) or ""
        tool_calls = message.pop("tool_calls", None) or None
        message.pop("role", None)
        usage = data.get("usage") or {}
        exact = isinstance(usage.get("prompt_tokens"), int) and isinstance(usage.get("completion_tokens"), int)
        if exact:
            prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
        else:
            prompt = prompt_estimate(params.messages)
            completion = estimate_tokens((content or "") + reasoning) + (
                estimate_tokens(json.dumps(tool_calls)) if tool_calls else 0)
        return ChatResult(content if isinstance(content, str) or content is None else str(content), str(reasoning),
                          tool_calls, choice.get("finish_reason") or "stop", prompt, completion, exact,
                          {k: v for k, v in message.items() if v is not None})

    def stream(self, params: ChatParams) -> ChatStream:
        path = "/chat/completions"
        response = self._send(path, self._body(params, True), stream=True)
        holder: list[ChatStream] = []
        seen: list[str] = []

        def deltas() -> Iterator[ChatDelta]:
            usage: dict[str, Any] = {}
            try:
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    try:
                        event = json.loads(payload)
                    except ValueError as exc:
                        raise BackendFailure(f"{self._where(path)} sent a malformed stream event: "
                                             f"{scrub(payload[:200], self._key)!r}") from exc
                    if not isinstance(event, dict):
                        raise BackendFailure(f"{self._where(path)} sent a malformed stream event")
                    if event.get("error"):
                        err = event["error"]
                        msg = err.get("message", err) if isinstance(err, dict) else err
                        raise BackendFailure(f"{self._where(path)} failed mid-stream: {scrub(str(msg), self._key)}")
                    if isinstance(event.get("usage"), dict):
                        usage = event["usage"]
                    for choice in event.get("choices") or []:
                        if choice.get("index", 0) != 0:
                            continue
                        d = choice.get("delta") or {}
                        delta = ChatDelta(content=d.get("content") or "",
                                          reasoning=d.get("reasoning_content") or d.get("reasoning") or "",
                                          tool_calls=d.get("tool_calls") or None,
                                          finish_reason=choice.get("finish_reason"))
                        if delta.is_output or delta.finish_reason:
                            seen.append(delta.content + delta.reasoning +
                                        (json.dumps(delta.tool_calls) if delta.tool_calls else ""))
                            yield delta
            except httpx.HTTPError as exc:
                raise BackendFailure(f"{self._where(path)}: {describe_http_error(exc, self._key)}") from exc
            finally:
                response.close()
            exact = isinstance(usage.get("prompt_tokens"), int) and isinstance(usage.get("completion_tokens"), int)
            holder[0].usage = ((usage["prompt_tokens"], usage["completion_tokens"], True) if exact else
                               (prompt_estimate(params.messages), estimate_tokens("".join(seen)), False))

        stream = ChatStream(deltas())
        holder.append(stream)
        return stream

    def embed(self, inputs: list[str], body: dict[str, Any]) -> EmbeddingResult:
        path = "/embeddings"
        forward = dict(body)
        forward["model"] = self.entry.model
        response = self._send(path, forward, stream=False)
        data = self._json(response, path)
        try:
            rows = sorted(data["data"], key=lambda r: r.get("index", 0))
            vectors = [r["embedding"] for r in rows]
        except (KeyError, TypeError, AttributeError) as exc:
            raise BackendFailure(f"{self._where(path)} sent embeddings without data") from exc
        usage = data.get("usage") or {}
        if isinstance(usage.get("prompt_tokens"), int):
            return EmbeddingResult(vectors, usage["prompt_tokens"], True)
        return EmbeddingResult(vectors, sum(estimate_tokens(t) for t in inputs), False)

    def close(self) -> None:
        self._client.close()
