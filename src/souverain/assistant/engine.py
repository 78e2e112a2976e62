"""The answer engine: retrieve, answer (extractive or generative), check citations, report flags.

Response invariants, whatever the mode:
- every ``[n]`` in ``answer`` resolves to ``citations`` (document, title, page, quote, span) and the
  quote can be cut back out of the stored page text at that span;
- ``abstained`` is true when nothing in the accessible documents supports an answer, and the
  answer then says so plainly instead of guessing;
- ``flags`` report a truncated context and every unsupported sentence.

Conversations (assistant/conversations.py) pass ``retrieval_query`` (the question rewritten from
the previous turns; it is used for retrieval only: the extractive sentences are still ranked by
the user's own question, otherwise the previous question would win again) and ``history``
(earlier turns, given to the generative model between the system prompt and the question).
Both are optional.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..documents import AccessFilter, SearchFilters, SearchHit
from ..embeddings.base import Embedder
from ..llm.base import ChatMessage, GenerationParams
from ..retrieval.hybrid import HybridSearcher
from . import extractive
from .citations import Citation, check_answer
from .prompts import NOT_FOUND, SYSTEM, fit_passages, user_message

NOT_FOUND_MESSAGE = "Not found in your documents: none of the documents you can access answers this question."


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    chunks: list[SearchHit]
    mode: Literal["extractive", "generative"]
    model: str
    timings: dict[str, float] = field(default_factory=dict)
    truncated_context: bool = False
    dropped_passages: int = 0
    unsupported_sentences: list[str] = field(default_factory=list)
    invalid_references: list[int] = field(default_factory=list)
    uncited_sentences: list[str] = field(default_factory=list)
    raw_answer: str = ""  # the model's text before checking (kept for audit)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flags"] = {
            "abstained": self.abstained,
            "truncated_context": self.truncated_context,
            "dropped_passages": self.dropped_passages,
            "unsupported_sentences": self.unsupported_sentences,
            "invalid_references": self.invalid_references,
            "uncited_sentences": self.uncited_sentences,
        }
        for c in d["citations"]:
            c["uri"] = c["document"]
        return d


class Assistant:
    def __init__(self, searcher: HybridSearcher, embedder: Embedder, llm: Any | None = None,
                 max_answer_tokens: int = 384, top_k: int = 6) -> None:
        self.searcher = searcher
        self.embedder = embedder
        self.llm = llm
        self.max_answer_tokens = max_answer_tokens
        self.top_k = top_k

    def retrieve(self, question: str, access: AccessFilter, filters: SearchFilters | None) -> tuple[list[SearchHit], float]:
        t0 = time.perf_counter()
        result = self.searcher.search(question, access, filters, k=self.top_k)
        return result.hits, time.perf_counter() - t0

    def ask(self, question: str, access: AccessFilter, filters: SearchFilters | None = None,
            mode: Literal["extractive", "generative"] = "extractive", *, retrieval_query: str | None = None,
            history: Sequence[ChatMessage] = ()) -> Answer:
        events = list(self.ask_stream(question, access, filters, mode, retrieval_query=retrieval_query, history=history))
        final = events[-1]
        assert final[0] == "done"
        return final[1]

    def ask_stream(self, question: str, access: AccessFilter, filters: SearchFilters | None = None,
                   mode: Literal["extractive", "generative"] = "extractive", *, retrieval_query: str | None = None,
                   history: Sequence[ChatMessage] = ()) -> Iterator[tuple[str, Any]]:
        """Yields ("delta", text) pieces while the answer is written, then ("done", Answer)."""
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        query = (retrieval_query or "").strip() or question
        hits, t_retrieve = self.retrieve(query, access, filters)
        if mode == "generative" and self.llm is None:
            raise ValueError("generative mode needs a language model; none is configured")
        if mode == "generative":
            yield from self._generative(question, hits, t_retrieve, history)
        else:
            answer = self._extractive(question, hits, t_retrieve)
            yield ("delta", answer.answer)
            yield ("done", answer)

    # extractive -----------------------------------------------------------------------------
    def _extractive(self, question: str, hits: list[SearchHit], t_retrieve: float) -> Answer:
        t0 = time.perf_counter()
        passages = hits[:4]
        ranked = extractive.score_sentences(question, passages, self.embedder) if passages else []
        base = Answer(question, NOT_FOUND_MESSAGE, True, [], hits, "extractive", self.embedder.name)
        base.timings = {"retrieve_s": t_retrieve}
        if extractive.should_abstain(ranked):
            base.timings["answer_s"] = time.perf_counter() - t0
            return base
        chosen = extractive.compose(ranked)
        numbers: dict[int, int] = {}
        parts = []
        citations = []
        for s in chosen:
            hit = passages[s.passage - 1]
            if s.passage not in numbers:
                numbers[s.passage] = len(numbers) + 1
                n = numbers[s.passage]
                citations.append(Citation(n, hit.doc_uri, hit.title, hit.page, s.text.strip(),
                                          hit.char_start + s.start, hit.char_start + s.end, hit.chunk_id,
                                          True, round(max(s.cosine, s.lexical), 3)))
            else:  # second sentence from the same passage: widen the quote to cover both
                c = citations[numbers[s.passage] - 1]
                c.char_start, c.char_end = min(c.char_start, hit.char_start + s.start), max(c.char_end, hit.char_start + s.end)
                c.quote = hit.text[c.char_start - hit.char_start : c.char_end - hit.char_start]
            parts.append(f"{' '.join(s.text.split())} [{numbers[s.passage]}]")  # PDF line wraps removed
        answer = Answer(question, " ".join(parts), False, citations, hits, "extractive", self.embedder.name)
        answer.timings = {"retrieve_s": t_retrieve, "answer_s": time.perf_counter() - t0}
        return answer

    # generative -----------------------------------------------------------------------------
    def _generative(self, question: str, hits: list[SearchHit], t_retrieve: float,
                    history: Sequence[ChatMessage] = ()) -> Iterator[tuple[str, Any]]:
        llm = self.llm
        assert llm is not None
        t0 = time.perf_counter()
        if not hits:
            ans = Answer(question, NOT_FOUND_MESSAGE, True, [], [], "generative", llm.name,
                         {"retrieve_s": t_retrieve, "generate_s": 0.0})
            yield ("delta", ans.answer)
            yield ("done", ans)
            return
        budget = llm.context_window - self.max_answer_tokens - sum(llm.count_tokens(m.content) + 4 for m in history)
        ctx = fit_passages(question, hits, llm.count_tokens, budget)
        messages = [ChatMessage("system", SYSTEM), *history, ChatMessage("user", user_message(question, ctx.passages))]
        params = GenerationParams(max_tokens=self.max_answer_tokens, temperature=0.0)
        pieces: list[str] = []
        for delta in llm.stream(messages, params):
            pieces.append(delta)
            yield ("delta", delta)
        raw = "".join(pieces).strip()
        t_gen = time.perf_counter() - t0
        checked = check_answer(raw, ctx.passages, self.embedder)
        abstained = (not raw) or raw.startswith(NOT_FOUND) or not checked.citations
        text = NOT_FOUND_MESSAGE if abstained else checked.text
        ans = Answer(question, text, abstained, [] if abstained else checked.citations, ctx.passages,
                     "generative", llm.name,
                     {"retrieve_s": t_retrieve, "generate_s": t_gen, "check_s": time.perf_counter() - t0 - t_gen},
                     truncated_context=ctx.dropped > 0, dropped_passages=ctx.dropped,
                     unsupported_sentences=checked.unsupported_sentences,
                     invalid_references=checked.invalid_references,
                     uncited_sentences=checked.uncited_sentences, raw_answer=raw)
        yield ("done", ans)
