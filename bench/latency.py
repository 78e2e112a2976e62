"""Search and ask latency at synthetic scale (10k / 100k chunks), with brute-force baselines.

    .venv/bin/python bench/latency.py                         # --sizes 10000,100000 --queries 50
    .venv/bin/python bench/latency.py --sizes 10000 --queries 20

The stores are synthetic and built directly through ``SQLiteStore.replace_document`` and
``add_vectors`` (the same code ingestion uses): documents of ``--chunks-per-doc`` chunks, chunk texts of
~120 words drawn from a Zipf-distributed made-up vocabulary (sentences of ~15 words), one page per
document holding all its chunks, ``public`` ACL, language ``en``, random unit vectors of dimension 384.
A built store is cached under ``bench/.cache/`` and reused.

Timed (single thread, ``--queries`` queries each, after a warm-up query that also loads the vector matrix):
- lexical: ``SQLiteRetriever.lexical`` (FTS5 + ACL inside the query), k=10;
- dense: ``SQLiteRetriever.dense`` with a fixed query vector per query, k=10 (no embedder in the timing);
- hybrid: ``HybridSearcher.search`` mode=hybrid, k=10 (lexical + dense at depth 50, coverage, fusion);
  its embedder is a stand-in returning a random unit vector, so the query embedding costs ~0;
- ask: ``Assistant.ask`` extractive (hybrid retrieval top 6 + sentence scoring); the stand-in embedder
  also embeds the sentences, so a real model would add its own cost (about 40 short texts per ask).
Baselines in the same run: exact numpy cosine (matrix @ q, argpartition) over the same in-memory matrix
(no ACL, no SQL), and ``bm25s`` over the same texts (its own tokenizer + the same Snowball English stemmer).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

# --blas-threads N must take effect before numpy loads OpenBLAS
if "--blas-threads" in sys.argv[:-1]:
    _n = sys.argv[sys.argv.index("--blas-threads") + 1]
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _n

import numpy as np  # noqa: E402

from souverain.assistant.engine import Assistant  # noqa: E402
from souverain.documents import PUBLIC, AccessFilter, Chunk, Page, SearchFilters  # noqa: E402
from souverain.index.base import DocumentRecord  # noqa: E402
from souverain.index.sqlite_search import SQLiteRetriever  # noqa: E402
from souverain.index.sqlite_store import SQLiteStore  # noqa: E402
from souverain.retrieval.hybrid import HybridSearcher  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results"
DIM = 384
MODEL = "bench-random-384"
BUILD_VERSION = 1


class RandomEmbedder:
    """Embedder stand-in: deterministic random unit vectors (seeded by the text), no model cost."""

    name = MODEL
    dim = DIM

    def _vec(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
        return v / np.linalg.norm(v)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([self._vec(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._vec("query: " + text)


# synthetic corpus ----------------------------------------------------------------------------------
def vocabulary(n: int, rng: np.random.Generator) -> list[str]:
    onsets = ["b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "tr", "st", "pl", "gr", "ch"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou", "ea"]
    codas = ["", "n", "r", "s", "t", "l", "m", "nd", "rk", "st"]
    words: dict[str, None] = {}
    while len(words) < n:
        k = int(rng.integers(2, 4))
        w = "".join(onsets[rng.integers(len(onsets))] + vowels[rng.integers(len(vowels))] + codas[rng.integers(len(codas))]
                    for _ in range(k))
        words.setdefault(w, None)
    return list(words)


def chunk_texts(n: int, vocab: list[str], rng: np.random.Generator, words_per_chunk: int = 120) -> list[str]:
    v = np.array(vocab, dtype=object)
    ranks = np.arange(1, len(vocab) + 1)
    p = 1.0 / ranks**1.07
    p /= p.sum()
    ids = rng.choice(len(vocab), size=(n, words_per_chunk), p=p)
    texts = []
    for row in ids:
        words = v[row]
        sentences = [" ".join(words[i : i + 15]).capitalize() + "." for i in range(0, words_per_chunk, 15)]
        texts.append(" ".join(sentences))
    return texts


def store_path(size: int, per_doc: int) -> Path:
    return CACHE / f"latency-v{BUILD_VERSION}-{size}-{per_doc}" / "souverain.sqlite3"


def build_store(size: int, per_doc: int, seed: int) -> tuple[SQLiteStore, float, bool]:
    path = store_path(size, per_doc)
    if path.exists():
        store = SQLiteStore(path)
        st = store.stats()
        if st["chunks"] == size and st["vectors"] == size:
            return store, 0.0, True
        store.close()
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    vocab = vocabulary(30_000, rng)
    texts = chunk_texts(size, vocab, rng)
    store = SQLiteStore(path)
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    ids: list[int] = []
    for d, start in enumerate(range(0, size, per_doc)):
        part = texts[start : start + per_doc]
        uri = f"synthetic://doc/{d:06d}"
        page_text = "\n\n".join(part)
        chunks, pos = [], 0
        for i, t in enumerate(part):
            chunks.append(Chunk(uri, i, t, 1, pos, pos + len(t), ("Section", f"Part {i // 5 + 1}"), "en"))
            pos += len(t) + 2
        rec = DocumentRecord(uri=uri, title=f"Synthetic document {d}", source="bench", format="text",
                             sha256=hashlib.sha256(page_text.encode()).hexdigest(), size_bytes=len(page_text),
                             language="en", modified_at=now, principals=(PUBLIC,))
        store.replace_document(rec, [Page(1, page_text)], chunks)
    ids = [cid for (cid,) in store.conn.execute("SELECT id FROM chunks ORDER BY id")]
    vecs = rng.standard_normal((len(ids), DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for i in range(0, len(ids), 5000):
        store.add_vectors(MODEL, [(cid, f"{cid:064x}", vecs[j]) for j, cid in enumerate(ids[i : i + 5000], i)])
    return store, time.perf_counter() - t0, False


# measurement ---------------------------------------------------------------------------------------
def timed(fn, items) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for it in items:
        t0 = time.perf_counter()
        fn(it)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def bench_size(size: int, args: argparse.Namespace) -> tuple[list[str], list[str], list[str]]:
    store, build_s, reused = build_store(size, args.chunks_per_doc, args.seed)
    access = AccessFilter(frozenset({PUBLIC}), reason="bench")
    flt = SearchFilters()
    retriever = SQLiteRetriever(store)
    embedder = RandomEmbedder()
    searcher = HybridSearcher(retriever, embedder)
    assistant = Assistant(searcher, embedder, None, 384, 6)

    rows_db = store.conn.execute("SELECT id, text FROM chunks ORDER BY id").fetchall()
    ids = np.array([r[0] for r in rows_db], dtype=np.int64)
    texts = [r[1] for r in rows_db]
    rng = np.random.default_rng(args.seed + size)
    queries = []
    for i in rng.choice(len(texts), size=args.queries + 1, replace=False):
        words = texts[i].rstrip(".").replace(".", "").lower().split()
        pick = rng.choice(len(words), size=5, replace=False)
        queries.append(" ".join(words[j] for j in sorted(pick)))
    qvecs = rng.standard_normal((len(queries), DIM)).astype(np.float32)
    qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)

    # cold: the first dense query loads the vector matrix from SQLite
    t0 = time.perf_counter()
    retriever.dense(qvecs[0], MODEL, access, flt, 10)
    cold_ms = (time.perf_counter() - t0) * 1000
    retriever.lexical(queries[0], access, flt, 10)
    searcher.search(queries[0], access, flt, 10, "hybrid")
    assistant.ask(queries[0], access, mode="extractive")
    qs, qv = queries[1:], list(qvecs[1:])

    lex = timed(lambda q: retriever.lexical(q, access, flt, 10), qs)
    dense = timed(lambda v: retriever.dense(v, MODEL, access, flt, 10), qv)
    hybrid = timed(lambda q: searcher.search(q, access, flt, 10, "hybrid"), qs)
    ask = timed(lambda q: assistant.ask(q, access, mode="extractive"), qs)

    # dense breakdown: where the time of SQLiteRetriever.dense goes
    vm = retriever._refresh(MODEL)
    refresh = timed(lambda _: retriever._refresh(MODEL), range(len(qv)))
    mask_t = timed(lambda _: retriever._allowed_mask(vm, access, flt), range(len(qv)))
    matmul_t = timed(lambda v: np.einsum("ij,j->i", vm.matrix, v), qv)  # as SQLiteRetriever.dense does

    # baselines: brute-force numpy over the same matrix; bm25s over the same texts
    matrix = vm.matrix.copy()

    def brute(v: np.ndarray) -> np.ndarray:
        s = matrix @ v
        top = np.argpartition(-s, 9)[:10]
        return ids[top[np.argsort(-s[top])]]

    brute_t = timed(brute, qv)
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    t0 = time.perf_counter()
    bm = bm25s.BM25()
    bm.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    bm_index_s = time.perf_counter() - t0
    bm25_t = timed(lambda q: bm.retrieve(bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False),
                                         k=10, show_progress=False, n_threads=1), qs)

    # agreement of our lexical top 10 with bm25s top 10 (same texts, similar analysis)
    overlap = []
    for q in qs[:20]:
        ours = {h.chunk_id for h in retriever.lexical(q, access, flt, 10)}
        res, _ = bm.retrieve(bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False), k=10,
                             show_progress=False)
        theirs = {int(ids[i]) for i in res[0]}
        overlap.append(len(ours & theirs) / 10)

    p50, p95 = (lambda xs: statistics.median(xs)), (lambda xs: pct(xs, 0.95))
    main = [
        f"| {size:,} | lexical (FTS5, ACL in query) | {p50(lex):.2f} | {p95(lex):.2f} | bm25s | {p50(bm25_t):.2f} | "
        f"{p95(bm25_t):.2f} | {p50(lex) / p50(bm25_t):.1f}x |",
        f"| {size:,} | dense (exact, ACL mask) | {p50(dense):.2f} | {p95(dense):.2f} | numpy brute force | "
        f"{p50(brute_t):.2f} | {p95(brute_t):.2f} | {p50(dense) / p50(brute_t):.1f}x |",
        f"| {size:,} | hybrid (depth 50) | {p50(hybrid):.2f} | {p95(hybrid):.2f} | bm25s + numpy | "
        f"{p50(bm25_t) + p50(brute_t):.2f} | - | {p50(hybrid) / (p50(bm25_t) + p50(brute_t)):.1f}x |",
        f"| {size:,} | ask (extractive) | {p50(ask):.2f} | {p95(ask):.2f} | - | - | - | - |",
    ]
    breakdown = [
        f"| {size:,} | {p50(dense):.2f} | {p50(refresh):.2f} | {p50(mask_t):.2f} | {p50(matmul_t):.2f} | "
        f"{max(0.0, p50(dense) - p50(refresh) - p50(mask_t) - p50(matmul_t)):.2f} | {cold_ms:.0f} |",
    ]
    st = store.stats()
    info = [
        f"| {size:,} | {st['documents']:,} | {st['chunks']:,} | {st['index_bytes'] / 1e6:.0f} | "
        f"{'reused (bench/.cache)' if reused else f'{build_s:.0f} s'} | {bm_index_s:.1f} s | "
        f"{statistics.mean(overlap):.2f} |",
    ]
    store.close()
    return main, breakdown, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--chunks-per-doc", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--blas-threads", default="", help="OPENBLAS_NUM_THREADS for this run (default: OpenBLAS's own)")
    ap.add_argument("--out", type=Path, default=RESULTS / "latency.md")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    started = time.perf_counter()
    main_rows, breakdown_rows, info_rows = [], [], []
    for size in sizes:
        m, b, i = bench_size(size, args)
        main_rows += m
        breakdown_rows += b
        info_rows += i
        print("\n".join(m), flush=True)
    out = [
        "# Search and ask latency (synthetic stores)",
        "",
        f"`python bench/latency.py {' '.join(sys.argv[1:])}`",
        f"({dt.datetime.now().isoformat(timespec='minutes')}, {os.cpu_count()} CPUs, load average "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} at the end; shared machine)",
        "",
        f"{args.queries} queries per cell (5 words sampled from a random chunk), k=10, one thread, milliseconds. "
        f"BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'OpenBLAS default')}. "
        "Dense and hybrid use a fixed/random query vector: no embedding model is timed. Ask = extractive, "
        "with the stand-in embedder for its sentences.",
        "",
        "| chunks | ours | p50 ms | p95 ms | baseline | p50 ms | p95 ms | ours / baseline (p50) |",
        "|---:|---|---:|---:|---|---:|---:|---:|",
        *main_rows,
        "",
        "## Dense search breakdown (p50 ms)",
        "",
        "| chunks | dense total | _refresh (epoch + new-rows query) | _allowed_mask (ACL SQL + np.isin) | "
        "scores (einsum) | rest (top-k, hits SQL) | first query (matrix load) ms |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *breakdown_rows,
        "",
        "## Stores",
        "",
        "| chunks | documents | chunks stored | index files MB (db + WAL) | build | bm25s index build | "
        "lexical top-10 overlap with bm25s |",
        "|---:|---:|---:|---:|---|---:|---:|",
        *info_rows,
        "",
        f"Total bench time {time.perf_counter() - started:.0f} s.",
    ]
    print("\n".join(out))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
