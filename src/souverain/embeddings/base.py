"""The Embedder extension point.

An embedder turns passages and queries into L2-normalised float32 vectors of a fixed dimension.
Queries and passages are embedded separately because asymmetric models (E5) prefix them
differently. ``name`` identifies the model and is stored with every vector, so vectors from two
different models are never compared: changing the model means re-embedding (the index keys its
embedding cache by (model name, chunk content hash)).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalised."""
        ...


class EmbeddingError(RuntimeError):
    """An embedding backend failed (server unreachable, bad response, model missing)."""


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        norm = float(np.linalg.norm(vectors))
        return vectors / norm if norm > 0 else vectors
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32)
