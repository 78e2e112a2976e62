"""Answers: correct, checked citations to the right page; abstention; citation checking; truncation."""

from __future__ import annotations

from pathlib import Path

import pytest

from souverain.assistant.citations import CITATION, check_answer
from souverain.assistant.engine import NOT_FOUND_MESSAGE, Answer, Assistant
from souverain.documents import AccessFilter
from souverain.llm.fake import FakeLLM
from souverain.service import Souverain

PUBLIC = AccessFilter.public()


def assert_citations_resolve(app: Souverain, ans: Answer) -> None:
    numbers = {int(n) for m in CITATION.finditer(ans.answer) for n in m.group(1).replace(";", ",").split(",")}
    assert numbers == {c.n for c in ans.citations}
    for c in ans.citations:
        page = app.store.page_text(c.document, c.page, PUBLIC)
        assert page is not None
        assert page[c.char_start : c.char_end] == c.quote
        assert c.quote.strip()


@pytest.mark.parametrize(
    ("question", "doc", "page", "needle"),
    [
        ("How many days of paid annual leave do full-time employees get?", "employee-handbook.pdf", 3, "25 days"),
        ("What is the minimum password length?", "it-security-policy.docx", 1, "14"),
        ("What is the hotel cap per night in Tokyo?", "travel-expenses.xlsx", 1, "210"),
        ("Within how many days is a whistleblower report acknowledged?", "employee-handbook.pdf", 5, "7 days"),
        ("What will drive unit BM-DU-400 cost from 1 April 2025?", "supplier-update.eml", 2, "639.50"),
        ("Combien de jours de télétravail par semaine sont autorisés ?", "politique-teletravail-fr.docx", 1, "2 jours"),
        ("Wie lange werden Videoaufnahmen im Lager gespeichert?", "datenschutz-richtlinie-de.html", 1, "72 Stunden"),
        ("事故が起きたら何分以内に誰へ報告しますか？", "anzen-kitei-ja.md", 1, "30分以内"),
        ("What is the maximum forklift speed in the Yokohama warehouse?", "anzen-kitei-ja.md", 1, "時速10キロメートル"),
    ],
)
def test_extractive_answers_cite_the_right_page(
    examples_app: Souverain, question: str, doc: str, page: int, needle: str
) -> None:
    ans = examples_app.ask(question, PUBLIC, mode="extractive")
    assert not ans.abstained, ans.answer
    assert needle in ans.answer
    first = ans.citations[0]
    assert Path(first.document).name == doc and first.page == page
    assert needle in first.quote
    assert_citations_resolve(examples_app, ans)


@pytest.mark.parametrize("question", ["Who won the football world cup in 2014?", "Quelle est la recette de la tarte tatin ?"])
def test_abstains_when_documents_do_not_answer(examples_app: Souverain, question: str) -> None:
    ans = examples_app.ask(question, PUBLIC, mode="extractive")
    assert ans.abstained
    assert ans.answer == NOT_FOUND_MESSAGE
    assert ans.citations == []


def _assistant(app: Souverain, llm: FakeLLM, **kw: int) -> Assistant:
    return Assistant(app.searcher, app.embedder, llm, **kw)


def test_generative_answer_keeps_supported_citations_and_drops_invalid_ones(examples_app: Souverain) -> None:
    q = "How many days of paid annual leave do full-time employees get?"
    passages = examples_app.search(q, PUBLIC, k=6).hits
    leave = next(i for i, h in enumerate(passages, 1) if "25 days" in h.text)
    other = next(i for i, h in enumerate(passages, 1) if "25 days" not in h.text)
    reply = (f"Full-time employees receive 25 days of paid annual leave per calendar year [{leave}]. "
             f"The company headquarters are located on the planet Mars [{other}]. "
             "Staff also get a free car every year [9].")
    llm = FakeLLM([reply])
    ans = _assistant(examples_app, llm).ask(q, PUBLIC, mode="generative")
    assert not ans.abstained
    assert ans.invalid_references == [9]
    assert "[9]" not in ans.answer
    assert any("Mars" in s for s in ans.unsupported_sentences)
    assert not any("25 days" in s for s in ans.unsupported_sentences)
    cited = {c.n: c for c in ans.citations}
    assert cited[leave].supported and Path(cited[leave].document).name == "employee-handbook.pdf"
    assert cited[leave].page == 3 and "25 days" in cited[leave].quote
    assert not cited[other].supported
    assert_citations_resolve(examples_app, ans)
    # the model saw numbered passages from the documents
    prompt = llm.last_messages[-1].content
    assert "[1]" in prompt and "25 days" in prompt


def test_cross_lingual_citation_is_supported_by_meaning(examples_app: Souverain) -> None:
    passages = examples_app.search("forklift maximum speed Yokohama", PUBLIC, k=5).hits
    ja = next(i for i, h in enumerate(passages, 1) if "時速10キロメートル" in h.text)
    checked = check_answer(f"Forklifts may drive at most 10 km/h in the warehouse [{ja}].", passages, examples_app.embedder)
    assert checked.unsupported_sentences == []
    assert checked.citations[0].supported


def test_uncited_sentences_get_a_supporting_passage_or_are_reported(examples_app: Souverain) -> None:
    passages = examples_app.search("paid annual leave full-time employees", PUBLIC, k=5).hits
    leave = next(i for i, h in enumerate(passages, 1) if "25 days" in h.text)
    checked = check_answer("Full-time employees receive 25 days of paid annual leave per calendar year.\n"
                           "Every employee also receives a pony on their birthday.", passages, examples_app.embedder)
    assert f"year [{leave}]." in checked.text
    assert checked.citations[0].n == leave and checked.citations[0].supported
    assert checked.uncited_sentences == ["Every employee also receives a pony on their birthday."]
    assert "\n" in checked.text  # the model's layout is kept


def test_a_wrong_number_is_never_supported(examples_app: Souverain) -> None:
    passages = examples_app.search("paid annual leave full-time employees", PUBLIC, k=5).hits
    leave = next(i for i, h in enumerate(passages, 1) if "25 days" in h.text)
    checked = check_answer(f"Full-time employees receive 40 days of paid annual leave per calendar year [{leave}].",
                           passages, examples_app.embedder)
    assert len(checked.unsupported_sentences) == 1
    assert not checked.citations[0].supported


def test_generative_not_found_reply_abstains(examples_app: Souverain) -> None:
    ans = _assistant(examples_app, FakeLLM(["NOT_FOUND"])).ask("What is the CEO's shoe size?", PUBLIC, mode="generative")
    assert ans.abstained and ans.answer == NOT_FOUND_MESSAGE and ans.citations == []


def test_context_that_does_not_fit_is_cut_and_reported(examples_app: Souverain) -> None:
    llm = FakeLLM(["Employees receive 25 days of paid annual leave [1]."], context_window=700)
    ans = _assistant(examples_app, llm, max_answer_tokens=200).ask(
        "How many days of paid annual leave do full-time employees get?", PUBLIC, mode="generative")
    assert ans.truncated_context and ans.dropped_passages > 0
    assert 0 < len(ans.chunks) < 6
    assert ans.as_dict()["flags"]["truncated_context"] is True


def test_generative_with_the_real_bundled_model(examples_app: Souverain) -> None:
    """SmolLM2-135M through llama.cpp, end to end: whatever it writes, invalid citations never get out."""
    ans = examples_app.ask("How many days of paid annual leave do full-time employees get?", PUBLIC, mode="generative")
    assert ans.mode == "generative" and "smollm2" in ans.model.lower()
    assert ans.timings["generate_s"] > 0
    if ans.abstained:
        assert ans.answer == NOT_FOUND_MESSAGE and ans.citations == []
    else:
        assert ans.citations
        assert_citations_resolve(examples_app, ans)
    assert all(n <= len(ans.chunks) for n in [c.n for c in ans.citations])


def test_streaming_yields_deltas_then_the_checked_answer(examples_app: Souverain) -> None:
    llm = FakeLLM(["Employees receive 25 days of paid annual leave per calendar year [1]."])
    events = list(_assistant(examples_app, llm).ask_stream("How many days of paid annual leave?", PUBLIC,
                                                           mode="generative"))
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done" and kinds.count("delta") > 3
    streamed = "".join(p for k, p in events if k == "delta")
    assert "25 days" in streamed and events[-1][1].citations
