"""OpenAICompatLLM against a real local HTTP server that follows the OpenAI chat-completions API.

The server replies ``"echo: <last user message>"``. The ``model`` field picks a behaviour:
``no-usage`` omits the usage block, ``broken`` answers 500, ``garbage`` sends invalid JSON,
``midstream-error`` sends an error event inside the SSE stream. A wrong or missing Bearer key gets
401 with a message that echoes the key back, as some servers do.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from souverain.llm.base import LLM, ChatMessage, GenerationParams, LLMError
from souverain.llm.openai_compat import OpenAICompatLLM
from souverain.llm.registry import load_llm

API_KEY = "sk-test-0123456789-secret"
HELLO = [ChatMessage("system", "Be brief."), ChatMessage("user", "hello there world")]


class _ChatHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests: list[dict[str, Any]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, code: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        req = json.loads(raw or b"{}")
        self.requests.append({"path": self.path, "headers": dict(self.headers), "body": req})
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        auth = self.headers.get("Authorization", "")
        if auth != f"Bearer {API_KEY}":
            given = auth.removeprefix("Bearer ")
            self._json(401, {"error": {"message": f"Incorrect API key provided: {given}", "type": "auth_error"}})
            return
        model = req.get("model")
        if model == "broken":
            self._json(500, {"error": {"message": "CUDA out of memory", "type": "server_error"}})
            return
        if model == "garbage":
            body = b"<html>proxy error</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        text = "echo: " + req["messages"][-1]["content"]
        words = text.split(" ")[: req.get("max_tokens", 512)]
        finish = "length" if len(words) < len(text.split(" ")) else "stop"
        text = " ".join(words)
        if req.get("stream"):
            self._sse(model, words, finish)
            return
        reply: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        }
        if model != "no-usage":
            reply["usage"] = {"prompt_tokens": 11, "completion_tokens": len(words), "total_tokens": 11 + len(words)}
        self._json(200, reply)

    def _sse(self, model: str, words: list[str], finish: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

        def event(obj: Any) -> None:
            self.wfile.write(f"data: {json.dumps(obj)}\n\n".encode())
            self.wfile.flush()

        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model}
        self.wfile.write(b": keep-alive\n\n")
        event({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        for i, word in enumerate(words):
            if model == "midstream-error" and i == 1:
                event({"error": {"message": "worker crashed", "type": "server_error"}})
                return
            delta = word if i == 0 else " " + word
            event({**base, "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}]})
        event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    _ChatHandler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def llm(server: str) -> Iterator[OpenAICompatLLM]:
    with OpenAICompatLLM(server, "tiny-chat", api_key=API_KEY, context_window=2048) as client:
        yield client


def test_complete(llm: OpenAICompatLLM) -> None:
    assert isinstance(llm, LLM)
    result = llm.complete(HELLO, GenerationParams(max_tokens=10, stop=("###",), seed=3))
    assert result.text == "echo: hello there world"
    assert (result.prompt_tokens, result.completion_tokens) == (11, 4)
    assert result.usage_exact and result.finish_reason == "stop" and result.model == "tiny-chat"
    sent = _ChatHandler.requests[-1]
    assert sent["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert sent["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello there world"},
    ]
    assert sent["body"]["stop"] == ["###"] and sent["body"]["seed"] == 3 and sent["body"]["stream"] is False
    assert sent["body"]["temperature"] == 0.0 and sent["body"]["max_tokens"] == 10


def test_base_url_with_v1_suffix(server: str) -> None:
    with OpenAICompatLLM(server + "/v1/", "tiny-chat", api_key=API_KEY) as client:
        assert client.complete(HELLO).text == "echo: hello there world"
    assert _ChatHandler.requests[-1]["path"] == "/v1/chat/completions"


def test_max_tokens_gives_length(llm: OpenAICompatLLM) -> None:
    result = llm.complete(HELLO, GenerationParams(max_tokens=2))
    assert result.text == "echo: hello" and result.finish_reason == "length"


def test_missing_usage_is_estimated(server: str) -> None:
    with OpenAICompatLLM(server, "no-usage", api_key=API_KEY) as client:
        result = client.complete(HELLO)
    assert not result.usage_exact
    assert result.completion_tokens >= 4 and result.prompt_tokens >= 4


def test_stream_matches_complete(llm: OpenAICompatLLM) -> None:
    deltas = list(llm.stream(HELLO))
    assert deltas == ["echo:", " hello", " there", " world"]
    assert "".join(deltas) == llm.complete(HELLO).text
    assert _ChatHandler.requests[-2]["body"]["stream"] is True


def test_wrong_key_is_401_without_leaking_the_key(server: str) -> None:
    wrong = "sk-wrong-key-777"
    client = OpenAICompatLLM(server, "tiny-chat", api_key=wrong)
    with pytest.raises(LLMError) as info:
        client.complete(HELLO)
    message = str(info.value)
    assert "401" in message and "Incorrect API key provided" in message
    assert wrong not in message and wrong not in repr(client)
    with pytest.raises(LLMError, match="401") as info:
        list(client.stream(HELLO))
    assert wrong not in str(info.value)
    client.close()


def test_no_key_sends_no_authorization(server: str) -> None:
    with OpenAICompatLLM(server, "tiny-chat") as client, pytest.raises(LLMError, match="401"):
        client.complete(HELLO)
    assert "Authorization" not in _ChatHandler.requests[-1]["headers"]


def test_server_error_carries_the_servers_message(server: str) -> None:
    with OpenAICompatLLM(server, "broken", api_key=API_KEY) as client:
        with pytest.raises(LLMError, match="HTTP 500: CUDA out of memory"):
            client.complete(HELLO)
        with pytest.raises(LLMError, match="HTTP 500: CUDA out of memory"):
            list(client.stream(HELLO))


def test_malformed_response(server: str) -> None:
    with OpenAICompatLLM(server, "garbage", api_key=API_KEY) as client, pytest.raises(LLMError, match="malformed"):
        client.complete(HELLO)


def test_error_inside_the_stream(server: str) -> None:
    with OpenAICompatLLM(server, "midstream-error", api_key=API_KEY) as client:
        stream = client.stream(HELLO)
        assert next(stream) == "echo:"
        with pytest.raises(LLMError, match="mid-stream: worker crashed"):
            next(stream)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_server_down() -> None:
    url = f"http://user:pw-{API_KEY}@127.0.0.1:{_free_port()}"
    client = OpenAICompatLLM(url, "tiny-chat", api_key=API_KEY, timeout=2.0)
    with pytest.raises(LLMError, match="cannot reach LLM server") as info:
        client.complete(HELLO)
    assert API_KEY not in str(info.value) and "pw-" not in str(info.value)
    with pytest.raises(LLMError, match="cannot reach LLM server"):
        list(client.stream(HELLO))
    assert API_KEY not in repr(client)
    client.close()


def test_count_tokens_is_an_estimate(llm: OpenAICompatLLM) -> None:
    assert llm.count_tokens("") == 0
    assert llm.count_tokens("one two three") == 4  # 13 bytes / 4, rounded up
    assert llm.count_tokens("東京都の人口") == 5  # 18 bytes: CJK counts about one token a character


def test_mock_transport_usage_only_final_chunk() -> None:
    """A usage-only final chunk (``stream_options.include_usage``) has no choices and adds no text."""

    def handler(request: httpx.Request) -> httpx.Response:
        chunks = [
            {"choices": [{"index": 0, "delta": {"content": "Hi"}}]},
            {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
        ]
        body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, text=body, headers={"Content-Type": "text/event-stream"})

    with OpenAICompatLLM("http://llm.invalid", "m", transport=httpx.MockTransport(handler)) as client:
        assert list(client.stream(HELLO)) == ["Hi"]


def test_load_llm_openai(server: str) -> None:
    llm = load_llm("openai", model="tiny-chat", base_url=server, api_key=API_KEY, n_ctx=2048)
    assert isinstance(llm, OpenAICompatLLM) and llm.context_window == 2048
    assert llm.complete(HELLO).text == "echo: hello there world"
    with pytest.raises(LLMError, match="base_url and model"):
        load_llm("openai", model="tiny-chat", base_url=None, api_key=None, n_ctx=2048)
    with pytest.raises(LLMError, match="http://"):
        OpenAICompatLLM("localhost:8000", "m")
