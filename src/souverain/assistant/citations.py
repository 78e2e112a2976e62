"""Citation extraction and verification.

An answer cites passages as ``[1]``, ``[2]``... Each marker must point at a passage that was given to
the model; anything else is removed before the user sees it. Every sentence that carries a
citation is then checked against the passages it cites:

- lexical support: the share of the sentence's content terms (stemmed; Japanese segmented) found in
  the passage, and
- semantic support: the best cosine similarity between the sentence and one sentence of the
  passage under the multilingual embedder (this is what supports an English sentence citing a
  Japanese passage).

Both signals barely tell "10 km/h" from "30 km/h", so a claim is only ever supported when every
number in it also appears in the passage.

A sentence is supported when either signal clears its threshold. Unsupported sentences are flagged,
and dropped when ``drop_unsupported`` is set. The quote shown for a citation is the passage
sentence that best matches the citing sentence, with its character span in the page text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from ..documents import SearchHit
from ..embeddings.base import Embedder
from ..text.analysis import detect_language, index_terms, split_sentences

CITATION = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")

LEXICAL_SUPPORT = 0.5
SEMANTIC_SUPPORT = 0.80  # max cosine to one passage sentence (mE5-small; calibrated on en/ja/fr claims)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


@dataclass
class Citation:
    n: int
    document: str
    title: str
    page: int
    quote: str
    char_start: int  # into the page text
    char_end: int
    chunk_id: int
    supported: bool = True
    support: float = 0.0


@dataclass
class CheckedAnswer:
    text: str
    citations: list[Citation]
    unsupported_sentences: list[str] = field(default_factory=list)
    invalid_references: list[int] = field(default_factory=list)
    uncited_sentences: list[str] = field(default_factory=list)


def cited_numbers(sentence: str) -> list[int]:
    return [int(n) for m in CITATION.finditer(sentence) for n in re.split(r"\s*[,;]\s*", m.group(1))]


def lexical_support(claim: str, passage: str) -> float:
    lang = detect_language(passage) or "en"
    claim_terms = {t for t in index_terms(CITATION.sub("", claim), detect_language(claim) or lang) if not t.isdigit()}
    claim_numbers = set(re.findall(r"\d+(?:[.,]\d+)?", CITATION.sub("", claim)))
    passage_terms = set(index_terms(passage, lang)) | set(index_terms(passage, detect_language(claim) or lang))
    total = len(claim_terms) + len(claim_numbers)
    if total == 0:
        return 0.0
    found = len(claim_terms & passage_terms) + sum(1 for n in claim_numbers if n in passage)
    return found / total


def best_quote(claim: str, hit: SearchHit) -> tuple[str, int, int]:
    """The sentence of the passage that best matches the claim, with its span in the page text."""
    spans = split_sentences(hit.text) or [(0, len(hit.text))]
    best = max(spans, key=lambda s: lexical_support(claim, hit.text[s[0] : s[1]]))
    return hit.text[best[0] : best[1]], hit.char_start + best[0], hit.char_start + best[1]


def check_answer(
    text: str, passages: list[SearchHit], embedder: Embedder | None, drop_unsupported: bool = False
) -> CheckedAnswer:
    """Remove invalid references, verify each citing sentence, and build the citation list."""
    valid = set(range(1, len(passages) + 1))
    invalid: list[int] = []

    def _clean(m: re.Match[str]) -> str:
        nums = [int(n) for n in re.split(r"\s*[,;]\s*", m.group(1))]
        keep = [n for n in nums if n in valid]
        invalid.extend(n for n in nums if n not in valid)
        return "[" + "][".join(str(n) for n in keep) + "]" if keep else ""

    text = CITATION.sub(_clean, text)
    spans = split_sentences(text)
    sentences = [_attach_citation(text[a:b], passages) for a, b in spans]
    for (a, b), sentence in sorted(zip(spans, sentences, strict=True), reverse=True):
        text = text[:a] + sentence + text[b:]  # keep the model's layout (lists, paragraphs)
    claims = [(s, cited_numbers(s)) for s in sentences]
    citing = [(s, ns) for s, ns in claims if ns]
    sims = _semantic(citing, passages, embedder)
    citations: dict[int, Citation] = {}
    unsupported: list[str] = []
    kept: list[str] = []
    uncited: list[str] = []
    for s, ns in claims:
        if not ns:
            kept.append(s)
            if len(s.split()) >= 4:
                uncited.append(s.strip())
            continue
        ok = False
        for n in ns:
            hit = passages[n - 1]
            lex = lexical_support(s, hit.text)
            numbers_ok = _numbers_present(s, hit.text)
            sem = sims.get((s, n), 0.0)
            support = max(lex, sem if sem >= SEMANTIC_SUPPORT else 0.0) if numbers_ok else 0.0
            good = numbers_ok and (lex >= LEXICAL_SUPPORT or sem >= SEMANTIC_SUPPORT)
            ok = ok or good
            if n not in citations or (good and not citations[n].supported):
                quote, qs, qe = best_quote(s, hit)
                citations[n] = Citation(n, hit.doc_uri, hit.title, hit.page, quote, qs, qe, hit.chunk_id, good, support)
        if not ok:
            unsupported.append(CITATION.sub("", s).strip())
            if drop_unsupported:
                continue
        kept.append(s)
    if drop_unsupported:
        still = {n for s in kept for n in cited_numbers(s)}
        citations = {n: c for n, c in citations.items() if n in still}
    if drop_unsupported:
        text = " ".join(kept)
    return CheckedAnswer(text.strip(), [citations[n] for n in sorted(citations)], unsupported, sorted(set(invalid)),
                         uncited)


def _attach_citation(sentence: str, passages: list[SearchHit]) -> str:
    """A factual sentence the model left uncited gets the passage that supports it lexically, if any.

    Small models often forget the markers. A sentence that no passage supports stays uncited and is
    reported in ``uncited_sentences``; nothing is attributed to a source that does not say it.
    """
    if cited_numbers(sentence) or len(sentence.split()) < 4:
        return sentence
    best, best_score = 0, 0.0
    for n, hit in enumerate(passages, 1):
        score = lexical_support(sentence, hit.text)
        if score > best_score and _numbers_present(sentence, hit.text):
            best, best_score = n, score
    if best and best_score >= LEXICAL_SUPPORT:
        stripped = sentence.rstrip()
        end = len(stripped) - 1 if stripped and stripped[-1] in ".!?。！？" else len(stripped)
        return f"{stripped[:end]} [{best}]{stripped[end:]}"
    return sentence


def _numbers_present(claim: str, passage: str) -> bool:
    norm = unicodedata.normalize("NFKC", passage)
    return all(n in norm for n in _NUMBER.findall(unicodedata.normalize("NFKC", CITATION.sub("", claim))))


def _semantic(
    citing: list[tuple[str, list[int]]], passages: list[SearchHit], embedder: Embedder | None
) -> dict[tuple[str, int], float]:
    """Best cosine between each claim and a sentence of each passage it cites (lexically unsupported pairs only)."""
    if embedder is None or not citing:
        return {}
    pairs = [(s, n) for s, ns in citing for n in ns
             if 0 < n <= len(passages) and lexical_support(s, passages[n - 1].text) < LEXICAL_SUPPORT]
    if not pairs:
        return {}
    claims = embedder.embed_passages([CITATION.sub("", s) for s, _ in pairs])
    units: dict[int, np.ndarray] = {}
    for n in sorted({n for _, n in pairs}):
        text = passages[n - 1].text
        spans = split_sentences(text) or [(0, len(text))]
        units[n] = embedder.embed_passages([text[a:b] for a, b in spans])
    return {(s, n): float(np.max(units[n] @ claims[i])) for i, (s, n) in enumerate(pairs)}
