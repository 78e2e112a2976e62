"""Embeddings from any sentence-transformers model (local path or a model id in the HF cache).

Optional: sentence-transformers pulls in torch, so it is the extra
``pip install 'souverain[sentence-transformers]'`` and is imported only when an embedder is built.
Asymmetric models need their prefixes (E5: ``"query: "`` / ``"passage: "``); they are added here,
not by the library, so the same settings work for every model. One lock serialises ``encode``
calls, which keeps a multi-threaded web server from oversubscribing the CPU.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .base import EmbeddingError, normalise_rows

INSTALL_HINT = "pip install 'souverain[sentence-transformers]'"


class SentenceTransformersEmbedder:
    def __init__(
        self,
        model_name_or_path: str,
        query_prefix: str = "",
        passage_prefix: str = "",
        *,
        device: str | None = None,
        batch_size: int = 32,
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(
                f"the sentence-transformers embedding backend is not installed: {INSTALL_HINT}"
            ) from exc
        try:
            self._model: Any = SentenceTransformer(model_name_or_path, device=device)
        except Exception as exc:  # the library raises OSError, ValueError, HF hub errors...
            raise EmbeddingError(f"cannot load sentence-transformers model {model_name_or_path!r}: {exc}") from exc
        dim = self._model.get_sentence_embedding_dimension()
        if not dim:
            raise EmbeddingError(f"model {model_name_or_path!r} does not report an embedding dimension")
        self.name = model_name_or_path
        self.dim = int(dim)
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            out = self._model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return normalise_rows(np.atleast_2d(out))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([self.passage_prefix + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([self.query_prefix + text])[0]
