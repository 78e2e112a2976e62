"""Gateway fixtures: a small OpenAI-compatible upstream server, and a real uvicorn serving the app.

``Upstream`` follows the OpenAI HTTP API (``GET /v1/models``, ``POST /v1/chat/completions`` with and
without SSE streaming, ``POST /v1/embeddings``, OpenAI error bodies, ``Retry-After``) the way vLLM or a
hosted API does; it is a server in its own thread, not a stand-in for any of our code. What it answers
depends on the requested model id:

- ``think-model``: ``<think>…</think>`` then the answer, in the content (streamed 3 characters at a time,
  so the tags are split across chunks);
- ``reasoner-model``: a separate ``reasoning_content`` field, as vLLM's reasoning parsers send it;
- ``tool-model``: a ``tool_calls`` answer to a request with tools;
- ``flaky-model``: every other request is a 503 with ``Retry-After: 0``;
- ``busy-model``: always 503 with ``Retry-After: 120``;
- ``broken-model``: always 500; ``bad-request-model``: always 400;
- ``cut-model``: streams one token, then an error event (a failure mid-stream);
- ``embed-model``: embeddings.

Every request is recorded (path, auth header, body) in ``requests``; the server wants
``Authorization: Bearer upstream-secret``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn

UPSTREAM_KEY = "upstream-secret"
THINK_ANSWER = "<think>The user asks 2+2. That is 4.</think>\n\nThe answer is 4."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Upstream:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
                self._json(status, {"error": {"message": message, "type": "server_error", "param": None,
                                              "code": None}}, headers)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {UPSTREAM_KEY}":
                    self._error(401, "invalid upstream key")
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802
                if not self._authorised():
                    return
                if self.path == "/v1/models":
                    ids = ["think-model", "reasoner-model", "tool-model", "flaky-model", "embed-model"]
                    self._json(200, {"object": "list", "data": [{"id": i, "object": "model", "created": 0,
                                                                 "owned_by": "upstream"} for i in ids]})
                else:
                    self._error(404, "no such route")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with upstream.lock:
                    upstream.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                              "body": body})
                    model = body.get("model", "")
                    upstream.counts[model] = upstream.counts.get(model, 0) + 1
                    count = upstream.counts[model]
                if not self._authorised():
                    return
                if self.path == "/v1/embeddings":
                    self._embeddings(body)
                elif self.path == "/v1/chat/completions":
                    self._chat(body, model, count)
                else:
                    self._error(404, "no such route")

            def _embeddings(self, body: dict[str, Any]) -> None:
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
                        for i, t in enumerate(inputs)]
                words = sum(len(t.split()) for t in inputs)
                self._json(200, {"object": "list", "data": list(reversed(data)), "model": body["model"],
                                 "usage": {"prompt_tokens": words, "total_tokens": words}})

            def _chat(self, body: dict[str, Any], model: str, count: int) -> None:
                if model == "flaky-model" and count % 2 == 1:
                    return self._error(503, "warming up", {"Retry-After": "0"})
                if model == "busy-model":
                    return self._error(503, "overloaded", {"Retry-After": "120"})
                if model == "broken-model":
                    return self._error(500, "CUDA error: an illegal memory access was encountered")
                if model == "bad-request-model":
                    return self._error(400, "tools[0].function.parameters is not a valid JSON schema")
                message: dict[str, Any] = {"role": "assistant", "content": "recovered" if model == "flaky-model"
                                           else "ok"}
                finish = "stop"
                if model == "think-model":
                    message["content"] = THINK_ANSWER
                elif model == "reasoner-model":
                    message = {"role": "assistant", "content": "Four.", "reasoning_content": "2 + 2 = 4"}
                elif model == "tool-model" and body.get("tools"):
                    name = body["tools"][0]["function"]["name"]
                    message = {"role": "assistant", "content": None, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": name, "arguments": json.dumps({"city": "Paris"})}}]}
                    finish = "tool_calls"
                if body.get("stream"):
                    return self._stream(body, model, message, finish)
                self._json(200, {"id": "up-1", "object": "chat.completion", "created": int(time.time()),
                                 "model": model, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                                 "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})

            def _stream(self, body: dict[str, Any], model: str, message: dict[str, Any], finish: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()

                def send(delta: dict[str, Any] | None, finish_reason: str | None = None, **extra: Any) -> None:
                    chunk: dict[str, Any] = {"id": "up-1", "object": "chat.completion.chunk", "created": 0,
                                             "model": model, "choices": [], **extra}
                    if delta is not None:
                        chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()

                send({"role": "assistant", "content": ""})
                if model == "cut-model":
                    send({"content": "Partial"})
                    self.wfile.write(b'data: {"error": {"message": "GPU fell over"}}\n\n')
                    self.wfile.flush()
                    return
                if message.get("reasoning_content"):
                    for piece in ("2 + 2", " = 4"):
                        send({"reasoning_content": piece})
                if message.get("tool_calls"):
                    call = message["tool_calls"][0]
                    args = call["function"]["arguments"]
                    send({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                          "function": {"name": call["function"]["name"], "arguments": ""}}]})
                    send({"tool_calls": [{"index": 0, "function": {"arguments": args}}]})
                text = message.get("content") or ""
                for i in range(0, len(text), 3):
                    send({"content": text[i:i + 3]})
                send({}, finish)
                if (body.get("stream_options") or {}).get("include_usage"):
                    send(None, usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def bodies(self, model: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r["body"] for r in self.requests if r["body"].get("model") == model]

    def start(self) -> Upstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    server = Upstream().start()
    yield server
    server.stop()


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` on a real uvicorn on 127.0.0.1; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
