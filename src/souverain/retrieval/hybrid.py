"""Hybrid retrieval: dense scores, plus lexical evidence weighted by how much of the query it covers.

Why not reciprocal-rank fusion: RRF gives the lexical list the same vote as the dense list even when
the lexical side has no real evidence. With a German question over English text, BM25 matches a
name or a number and ranks noise; RRF then pushes that noise into the top 10 (measured on XQuAD
paragraphs: bm25 0.474, dense 0.918, RRF 0.633 nDCG@10; on XQuAD-R sentences, bench/retrieval.py:
bm25s 0.389, dense 0.848, RRF 0.765).

What we do instead:
1. Take the top ``depth`` of each side; every candidate gets its exact dense cosine (also the
   lexical-only ones) and its BM25 score (0 when outside the lexical list).
2. Lexical *coverage*: the IDF-weighted share of the query's words found in the best lexical hit.
   Words absent from the corpus count with the highest IDF, so a question in another language than
   the documents has coverage near 0, and a question whose rare words all appear has coverage near 1.
   Function words of the indexed languages are left out: a question's "what"/"how many" never occurs
   in its answer, and counting them pulled same-language coverage down to the cross-lingual level
   (XQuAD-R en: mean 0.33 with them, 0.69 without; de questions over en text: 0.21).
3. Dense scores are min-max normalised over the candidates, BM25 divided by the best BM25, and mixed:
   ``score = (1 - a) * dense + a * lexical`` with ``a = lexical_weight * coverage ** coverage_power``.
When there are no vectors yet (a document is searchable lexically before it is embedded), the
lexical ranking is returned as it is.

Defaults (lexical_weight 0.9, coverage_power 1.5, depth 50) were picked with bench/fusion_sweep.py
on XQuAD-R en/de/de->en, PIAF, CUAD and FinanceBench at once; XQuAD-R es and JSQuAD were held out
and agree (hybrid 0.875 = dense 0.875; JSQuAD 0.945 vs lexical 0.943, dense 0.904). The landscape is
flat on the sentence sets, where dense is strong (every setting within ~0.01 nDCG@10), so the choice
is driven by (a) sets where lexical evidence is strong but the query's words are only partly covered:
CUAD clauses (old defaults 0.5/2.0: hybrid 0.461, lexical 0.567, dense 0.444; now 0.505) and PIAF
(0.896 -> 0.908); (b) never letting partial lexical noise override dense across languages: German
questions over English text stay at dense level (0.848; RRF 0.765), and an English question over a
Japanese document (coverage 0.33, tests/core/test_search.py) keeps that document in the top 3.
0.8/1.0 scored higher on CUAD (0.540) but gave that English->Japanese query a lexical weight of 0.26,
enough to push the Japanese document out: coverage around 0.2-0.35 is the cross-lingual zone and the
weight there must stay below ~0.17 (0.9 * 0.33 ** 1.5 = 0.17). Min-max over the lexical list instead
of dividing by its best, and coverage-weighted RRF, measured no better.
Numbers and sizes: bench/results/retrieval.md.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from ..documents import AccessFilter, SearchFilters, SearchHit
from ..embeddings.base import Embedder
from ..index.sqlite_search import SQLiteRetriever
from ..text.analysis import normalise, query_terms
from ..text.stopwords import STOPWORDS


@dataclass(frozen=True)
class FusionParams:
    depth: int = 50
    lexical_weight: float = 0.9
    coverage_power: float = 1.5


@dataclass
class SearchResult:
    hits: list[SearchHit]
    mode: str  # "hybrid" | "lexical" | "dense"
    lexical_coverage: float = 0.0
    lexical_weight: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


class HybridSearcher:
    def __init__(self, retriever: SQLiteRetriever, embedder: Embedder, params: FusionParams | None = None) -> None:
        self.retriever = retriever
        self.embedder = embedder
        self.params = params or FusionParams()

    def search(
        self,
        query: str,
        access: AccessFilter,
        filters: SearchFilters | None = None,
        k: int = 10,
        mode: str = "hybrid",
    ) -> SearchResult:
        filters = filters or SearchFilters()
        p = self.params
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        lexical = self.retriever.lexical(query, access, filters, p.depth) if mode != "dense" else []
        timings["lexical_s"] = time.perf_counter() - t0
        if mode == "lexical":
            return SearchResult(lexical[:k], "lexical", timings=timings)
        t1 = time.perf_counter()
        qvec = self.embedder.embed_query(query)
        timings["embed_query_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        dense = self.retriever.dense(qvec, self.embedder.name, access, filters, p.depth)
        timings["dense_s"] = time.perf_counter() - t2
        if mode == "dense":
            return SearchResult(dense[:k], "dense", timings=timings)
        if not dense:
            return SearchResult(lexical[:k], "lexical", timings=timings)
        if not lexical:
            return SearchResult(dense[:k], "hybrid", timings=timings)
        t3 = time.perf_counter()
        coverage = self.coverage(query, lexical[0].chunk_id)
        weight = p.lexical_weight * coverage**p.coverage_power
        fused = self._fuse(qvec, access, lexical, dense, weight)
        timings["fuse_s"] = time.perf_counter() - t3
        return SearchResult(fused[:k], "hybrid", lexical_coverage=coverage, lexical_weight=weight, timings=timings)

    def _fuse(
        self, qvec: object, access: AccessFilter, lexical: list[SearchHit], dense: list[SearchHit], weight: float
    ) -> list[SearchHit]:
        by_id: dict[int, SearchHit] = {h.chunk_id: h for h in dense}
        for h in lexical:
            if h.chunk_id in by_id:
                by_id[h.chunk_id].lexical_score, by_id[h.chunk_id].lexical_rank = h.lexical_score, h.lexical_rank
            else:
                by_id[h.chunk_id] = h
        missing = [cid for cid, h in by_id.items() if h.dense_score is None]
        if missing:
            sims = self.retriever.dense_scores(qvec, self.embedder.name, access, missing)  # type: ignore[arg-type]
            for cid in missing:
                by_id[cid].dense_score = sims.get(cid)
        dvals = [h.dense_score for h in by_id.values() if h.dense_score is not None]
        lvals = [h.lexical_score for h in by_id.values() if h.lexical_score is not None]
        dmin, dmax = min(dvals), max(dvals)
        lmax = max(lvals) if lvals else 1.0
        for h in by_id.values():
            d = ((h.dense_score - dmin) / (dmax - dmin) if dmax > dmin else 1.0) if h.dense_score is not None else 0.0
            lex = (h.lexical_score / lmax if lmax > 0 else 0.0) if h.lexical_score is not None else 0.0
            h.score = (1 - weight) * d + weight * lex
        return sorted(by_id.values(), key=lambda h: -h.score)

    def coverage(self, query: str, chunk_id: int) -> float:
        """IDF-weighted share of the query's words that occur in the given chunk's terms."""
        conn = self.retriever.store.conn
        row = conn.execute("SELECT terms || ' ' || context FROM chunks_fts WHERE rowid=?", (chunk_id,)).fetchone()
        if not row:
            return 0.0
        chunk_terms = set(row[0].split())
        langs = self.retriever.indexed_languages()
        # plain words (and Japanese terms), no stems; function words of the indexed languages are not
        # evidence either way (a question's "how"/"what" never occurs in the answer)
        stop = frozenset().union(*(STOPWORDS.get(lang, frozenset()) for lang in langs))
        words = [w for w in query_terms(query, []) if w not in stop]
        if not words:
            return 0.0
        variants = {w: set(query_terms(w, langs)) | {normalise(w)} for w in words}
        df, n_docs = self.retriever.doc_freqs([t for vs in variants.values() for t in vs])
        n_docs = max(1, n_docs)
        total = covered = 0.0
        for w in words:
            freq = max(df.get(t, 0) for t in variants[w])
            idf = math.log(1 + (n_docs - freq + 0.5) / (freq + 0.5))
            total += idf
            if variants[w] & chunk_terms:
                covered += idf
        return covered / total if total > 0 else 0.0
