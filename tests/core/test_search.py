"""Search as a user relies on it: any language, cross-lingual, filters, and the access filter inside."""

from __future__ import annotations

from pathlib import Path

import pytest

from souverain.documents import AccessFilter, RawDocument, SearchFilters
from souverain.service import Souverain

PUBLIC = AccessFilter.public()


def _names(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [Path(h.doc_uri).name for h in hits]


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_japanese_query_finds_japanese_document(examples_app: Souverain, mode: str) -> None:
    hits = examples_app.search("フォークリフトの最高速度", PUBLIC, k=3, mode=mode).hits
    assert _names(hits)[0] == "anzen-kitei-ja.md"
    assert "時速10キロメートル" in hits[0].text


def test_japanese_lexical_matches_words_inside_kanji_runs(examples_app: Souverain) -> None:
    # 速度 appears only inside the longer run 最高速度は時速10キロメートル: a tokenizer that keeps
    # kanji/kana runs whole would never match it
    hits = examples_app.search("速度", PUBLIC, k=3, mode="lexical").hits
    assert hits and _names(hits)[0] == "anzen-kitei-ja.md"


@pytest.mark.parametrize(
    ("question", "expected", "needle"),
    [
        ("Wie viele Tage bezahlten Jahresurlaub bekommen Vollzeitbeschäftigte?", "employee-handbook.pdf", "25 days"),
        ("¿Cuántos días de vacaciones pagadas tienen los empleados a tiempo completo?", "employee-handbook.pdf", "25 days"),
        ("What is the maximum forklift speed in the Yokohama warehouse?", "anzen-kitei-ja.md", "時速10キロメートル"),
        ("Combien de jours de télétravail par semaine sont autorisés ?", "politique-teletravail-fr.docx", "2 jours"),
    ],
)
def test_question_in_one_language_finds_document_in_another(
    examples_app: Souverain, question: str, expected: str, needle: str
) -> None:
    hits = examples_app.search(question, PUBLIC, k=3).hits
    assert expected in _names(hits), _names(hits)
    assert any(needle in h.text for h in hits if Path(h.doc_uri).name == expected)


def test_hits_carry_page_and_exact_span(examples_app: Souverain) -> None:
    hits = examples_app.search("whistleblower report acknowledgement", PUBLIC, k=3).hits
    top = hits[0]
    assert _names(hits)[0] == "employee-handbook.pdf" and top.page == 5
    page = examples_app.store.page_text(top.doc_uri, top.page, PUBLIC)
    assert page is not None and page[top.char_start : top.char_end] == top.text


def test_filters_by_language_and_type(examples_app: Souverain) -> None:
    q = "data protection and retention of personal data"
    de_only = examples_app.search(q, PUBLIC, SearchFilters(languages=("de",)), k=5).hits
    assert de_only and all(h.language == "de" for h in de_only)
    pdf_only = examples_app.search(q, PUBLIC, SearchFilters(formats=("pdf",)), k=5).hits
    assert pdf_only and all(h.format == "pdf" for h in pdf_only)
    for mode in ("lexical", "dense"):
        none = examples_app.search(q, PUBLIC, SearchFilters(formats=("pptx",)), k=5, mode=mode).hits
        assert none == []


def test_restricted_documents_never_reach_other_principals(app: Souverain) -> None:
    ing = app.ingestor(principals=("group:hr",))
    ing.ingest_raw(RawDocument(uri="mem://salaries.txt", data=b"Salary bands: engineers earn between 60k and 90k EUR.",
                               title="Salary bands", principals=("group:hr",)))
    app.ingestor().ingest_raw(RawDocument(uri="mem://canteen.txt", data=b"The canteen menu changes every Monday.",
                                          title="Canteen"))
    app.worker.drain()
    hr = AccessFilter.for_principals(["user:alice", "group:hr"])
    for mode in ("lexical", "dense", "hybrid"):
        assert "mem://salaries.txt" not in [h.doc_uri for h in app.search("salary bands engineers", PUBLIC, mode=mode).hits]
        assert [h.doc_uri for h in app.search("salary bands engineers", hr, mode=mode).hits][0] == "mem://salaries.txt"
    assert app.store.page_text("mem://salaries.txt", 1, PUBLIC) is None
    assert app.store.page_text("mem://salaries.txt", 1, hr) is not None
    assert [d.uri for d in app.store.list_documents(PUBLIC)] == ["mem://canteen.txt"]
    ans = app.ask("What do engineers earn?", PUBLIC)
    assert all(c.document != "mem://salaries.txt" for c in ans.citations)
    assert all(h.doc_uri != "mem://salaries.txt" for h in ans.chunks)


def test_documents_without_principals_are_invisible(app: Souverain) -> None:
    app.ingestor(principals=()).ingest_raw(
        RawDocument(uri="mem://orphan.txt", data=b"Orphan document about quarterly targets.", principals=()))
    app.worker.drain()
    for mode in ("lexical", "dense", "hybrid"):
        assert app.search("quarterly targets", PUBLIC, mode=mode).hits == []


def test_access_filter_requires_valid_principals() -> None:
    with pytest.raises(ValueError):
        AccessFilter.for_principals([])
    with pytest.raises(ValueError):
        AccessFilter.for_principals(["alice"])


def test_searchable_lexically_before_embeddings(app: Souverain) -> None:
    app.ingestor().ingest_raw(RawDocument(uri="mem://new.txt", data=b"Quarterly town hall is on 12 March in room Aurora."))
    assert app.worker.pending() == 1
    res = app.search("town hall Aurora", PUBLIC)
    assert res.mode == "lexical" and res.hits[0].doc_uri == "mem://new.txt"
    app.worker.drain()
    res = app.search("town hall Aurora", PUBLIC)
    assert res.mode == "hybrid" and res.hits[0].doc_uri == "mem://new.txt"


def test_empty_query_is_an_error(examples_app: Souverain) -> None:
    with pytest.raises(ValueError):
        examples_app.search("   ", PUBLIC)


def test_permission_change_is_effective_on_the_next_dense_and_hybrid_query(app: Souverain) -> None:
    app.ingestor().ingest_raw(RawDocument(uri="mem://plan.txt", data=b"The reorganisation plan merges teams A and B."))
    app.worker.drain()
    hr = AccessFilter.for_principals(["group:hr"])
    for mode in ("dense", "hybrid"):  # warm the admitted-documents cache for both filters
        assert app.search("reorganisation plan", PUBLIC, mode=mode).hits
        assert not app.search("reorganisation plan", hr, mode=mode).hits
    app.store.set_principals("mem://plan.txt", ["group:hr"])
    for mode in ("dense", "hybrid", "lexical"):
        assert not app.search("reorganisation plan", PUBLIC, mode=mode).hits, mode
        assert app.search("reorganisation plan", hr, mode=mode).hits[0].doc_uri == "mem://plan.txt"
