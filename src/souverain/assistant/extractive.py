"""Extractive answers: no language model, only quoted sentences with their citations.

The sentences of the best passages are scored against the question by
``0.55 * semantic + 0.35 * lexical + 0.10 * passage prior`` where semantic is the min–max
normalised cosine to the question (multilingual, so a Japanese passage can answer an English
question), lexical the IDF-free share of question terms in the sentence, and the prior the
passage's retrieval rank. The best sentence is quoted; a second one is added when it scores
close to the best and comes from the same or the next passage, so answers stay short.

Abstention: when even the best sentence is far from the question (cosine below
``ABSTAIN_COSINE``) and lexical overlap is weak, we say the answer was not found instead of
quoting something unrelated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..documents import SearchHit
from ..embeddings.base import Embedder
from ..text.analysis import detect_language, index_terms, query_terms, split_sentences

ABSTAIN_COSINE = 0.80
ABSTAIN_LEXICAL = 0.5
MAX_SENTENCES = 40


@dataclass
class ScoredSentence:
    passage: int  # 1-based index into the passages
    start: int  # into the passage text
    end: int
    text: str
    cosine: float
    lexical: float
    score: float = 0.0


_TERMINAL = tuple(".!?:;。！？」)")


def answer_units(text: str) -> list[tuple[int, int]]:
    """Sentence spans, with table rows as their own units and heading lines left out.

    Inside a sentence span, lines are re-grouped: a line with cells (" | ") stands alone, a short
    line without final punctuation followed by more text is a heading and is skipped, and other
    lines are joined (a PDF wraps one sentence over several lines).
    """
    units: list[tuple[int, int]] = []
    for a, b in split_sentences(text):
        lines = [(m.start() + a, m.end() + a) for m in re.finditer(r"[^\n]+", text[a:b]) if m.group().strip()]
        cur: tuple[int, int] | None = None
        for idx, (la, lb) in enumerate(lines):
            line = text[la:lb].strip()
            if " | " in line:
                if cur:
                    units.append(cur)
                    cur = None
                units.append((la, lb))
                continue
            is_heading = len(line) <= 60 and not line.endswith(_TERMINAL) and idx + 1 < len(lines) and cur is None
            if is_heading:
                continue
            cur = (cur[0], lb) if cur else (la, lb)
        if cur:
            units.append(cur)
    return units


def score_sentences(question: str, passages: list[SearchHit], embedder: Embedder) -> list[ScoredSentence]:
    cands: list[ScoredSentence] = []
    for i, hit in enumerate(passages, 1):
        for a, b in answer_units(hit.text):
            s = hit.text[a:b]
            # a question in the document (an FAQ heading) is never itself the answer
            if len(s.strip()) >= 8 and not s.rstrip().endswith(("?", "？")):
                cands.append(ScoredSentence(i, a, b, s, 0.0, 0.0))
    cands = cands[:MAX_SENTENCES]
    if not cands:
        return []
    qvec = embedder.embed_query(question)
    svecs = embedder.embed_passages([c.text for c in cands])
    cos = svecs @ qvec
    qlang = detect_language(question) or "en"
    words = query_terms(question, [])
    lo, hi = float(cos.min()), float(cos.max())
    for c, sim in zip(cands, cos, strict=True):
        c.cosine = float(sim)
        slang = detect_language(c.text) or qlang
        terms = set(index_terms(c.text, slang))
        hits = sum(1 for w in words if set(query_terms(w, [qlang, slang])) & terms)
        c.lexical = hits / len(words) if words else 0.0
        sem = (c.cosine - lo) / (hi - lo) if hi > lo else 1.0
        # a sentence in another language than the question cannot share its words: judge it on meaning
        lex = c.lexical if _same_script_language(qlang, slang) else sem
        prior = 1.0 - (c.passage - 1) / max(1, len(passages))
        c.score = 0.55 * sem + 0.35 * lex + 0.10 * prior
    return sorted(cands, key=lambda c: -c.score)


def should_abstain(ranked: list[ScoredSentence]) -> bool:
    if not ranked:
        return True
    best_cos = max(c.cosine for c in ranked)
    best_lex = max(c.lexical for c in ranked)
    return best_cos < ABSTAIN_COSINE and best_lex < ABSTAIN_LEXICAL


def compose(ranked: list[ScoredSentence]) -> list[ScoredSentence]:
    """The sentences to quote, in reading order."""
    best = ranked[0]
    chosen = [best]
    for c in ranked[1:3]:
        if c.score >= best.score - 0.08 and abs(c.passage - best.passage) <= 1 and c.cosine >= ABSTAIN_COSINE:
            chosen.append(c)
    return sorted(chosen, key=lambda c: (c.passage, c.start))


def _same_script_language(a: str, b: str) -> bool:
    return a == b
