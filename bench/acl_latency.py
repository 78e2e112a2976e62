"""Cost of the access filter: search latency for a user in 1,000 groups vs. no restriction.

    .venv/bin/python bench/acl_latency.py                      # 100k chunks, 1,000 groups, 50 queries
    .venv/bin/python bench/acl_latency.py --size 10000 --queries 20

Goal (issue "identity and permission-aware retrieval"): at 100k chunks and a user in 1,000 groups,
search p95 with the filter <= 1.2 x without it.

Setup: a copy of bench/latency.py's synthetic store (20 chunks per document, random unit vectors).
Every document keeps ``public`` and gets one or two of 2,000 groups ``group:g<k>``. Without the
filter = the access filter ``{public}`` (every document admitted, the same SQL shape); with it = the
user's 1,001 principals ``user:u1`` + ``group:g0..g999`` (about 3/4 of the documents admitted).
Both run the real ``SQLiteRetriever`` / ``HybridSearcher`` code, where the filter is inside the FTS5
statement and applied as a mask before the dense top-k.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import CACHE, MODEL, RESULTS, RandomEmbedder, build_store, pct, store_path, timed  # noqa: E402
from souverain.documents import PUBLIC, AccessFilter, SearchFilters  # noqa: E402
from souverain.index.sqlite_search import SQLiteRetriever  # noqa: E402
from souverain.index.sqlite_store import SQLiteStore, transaction  # noqa: E402
from souverain.retrieval.hybrid import HybridSearcher  # noqa: E402


def acl_store(size: int, groups: int, seed: int) -> SQLiteStore:
    path = CACHE / f"acl-{size}-{groups}" / "souverain.sqlite3"
    if not path.exists():
        base, _, _ = build_store(size, 20, 7)
        base.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        base.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(store_path(size, 20), path)
        store = SQLiteStore(path)
        rng = np.random.default_rng(seed)
        doc_ids = [d for (d,) in store.conn.execute("SELECT id FROM documents")]
        with transaction(store.conn) as conn:
            for d in doc_ids:
                for g in {int(x) for x in rng.integers(0, groups * 2, size=int(rng.integers(1, 3)))}:
                    conn.execute("INSERT OR IGNORE INTO document_acl(doc_id, principal) VALUES (?, ?)", (d, f"group:g{g}"))
        return store
    return SQLiteStore(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=RESULTS / "acl-latency.md")
    args = ap.parse_args()
    t_start = time.perf_counter()
    store = acl_store(args.size, args.groups, args.seed)
    retriever = SQLiteRetriever(store)
    searcher = HybridSearcher(retriever, RandomEmbedder())
    open_filter = AccessFilter(frozenset({PUBLIC}), reason="bench: everything")
    user = AccessFilter(frozenset({"user:u1", *(f"group:g{i}" for i in range(args.groups))}), reason="bench: user")
    admitted = store.conn.execute(
        f"SELECT count(DISTINCT doc_id) FROM document_acl WHERE principal IN ({','.join('?' * len(user.principals))})",
        sorted(user.principals)).fetchone()[0]
    total_docs = store.conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    rng = np.random.default_rng(args.seed)
    texts = [t for (t,) in store.conn.execute("SELECT text FROM chunks ORDER BY random() LIMIT ?", (args.queries + 1,))]
    queries = [" ".join(rng.choice(t.replace(".", "").lower().split(), size=5, replace=False)) for t in texts]
    qvecs = [v / np.linalg.norm(v) for v in rng.standard_normal((len(queries), 384)).astype(np.float32)]
    flt = SearchFilters()
    for access in (open_filter, user):  # warm: loads the vector matrix, fills caches
        retriever.dense(qvecs[0], MODEL, access, flt, 10)
        searcher.search(queries[0], access, flt, 10)
    rows = []
    for name, fn, items in (
        ("lexical", lambda a: (lambda q: retriever.lexical(q, a, flt, 10)), queries[1:]),
        ("dense", lambda a: (lambda v: retriever.dense(v, MODEL, a, flt, 10)), qvecs[1:]),
        ("hybrid", lambda a: (lambda q: searcher.search(q, a, flt, 10)), queries[1:]),
    ):
        # interleave the two filters query by query so machine noise hits both alike
        without, with_ = [], []
        for it in items:
            without += timed(fn(open_filter), [it])
            with_ += timed(fn(user), [it])
        rows.append((name, pct(without, 0.5), pct(without, 0.95), pct(with_, 0.5), pct(with_, 0.95)))
    lines = [
        "# Access-filter cost",
        "",
        f"`python bench/acl_latency.py --size {args.size} --groups {args.groups} --queries {args.queries}`",
        "",
        f"{args.size:,} chunks in {total_docs:,} documents; the user holds {len(user.principals):,} principals "
        f"and may read {admitted:,} documents. Milliseconds; goal: p95 with the filter <= 1.2 x without.",
        "",
        "| search | without p50 | without p95 | with p50 | with p95 | p95 ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, w50, w95, f50, f95 in rows:
        lines.append(f"| {name} | {w50:.1f} | {w95:.1f} | {f50:.1f} | {f95:.1f} | {f95 / w95:.2f}x |")
    lines += ["", f"Total bench time {time.perf_counter() - t_start:.0f} s."]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
