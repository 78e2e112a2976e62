"""Loaders that turn the public evaluation sets in ``../shared/eval`` into retrieval judgments.

Nothing from those files is copied into the repository: they are read in place (``EVAL_DIR``, or the
``SOUVERAIN_EVAL_DIR`` environment variable). Every loader is deterministic (sorted inputs, a fixed
seed for question sampling) so that a cached index stays valid between runs.

A set is a list of documents to ingest (text or a PDF path) and a list of queries. Relevance is
expressed in *units*:
- ``doc``: the document URI (one sentence or paragraph per document: XQuAD-R, PIAF, JSQuAD);
- ``page``: ``(uri, page)`` with 1-based pages (FinanceBench);
- ``chunk``: chunk ids, resolved after ingestion from annotated clause texts (CUAD); a query may also
  carry a ``scope`` (a document URI) that restricts the search to one contract.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

EVAL_DIR = Path(os.environ.get("SOUVERAIN_EVAL_DIR", Path(__file__).resolve().parents[2] / "shared" / "eval"))
SEED = 13


@dataclass
class Doc:
    uri: str
    title: str = ""
    text: str | None = None  # plain text, ingested as a .txt RawDocument
    path: Path | None = None  # a file ingested with Ingestor.ingest_file (PDF)


@dataclass
class Query:
    qid: str
    text: str
    relevant: set = field(default_factory=set)  # units (see module docstring)
    scope: str = ""  # restrict to this document URI (CUAD)
    clauses: list[str] = field(default_factory=list)  # CUAD: clause texts, resolved to chunk ids later


@dataclass
class EvalSet:
    name: str
    store_key: str  # sets sharing a corpus share one data dir (xquadr-de-en uses the English store)
    language: str  # corpus language (bm25s stemmer / stop words)
    unit: str  # "doc" | "page" | "chunk"
    docs: list[Doc]
    queries: list[Query]
    sizes: str = ""


def _sample(items: list, n: int) -> list:
    if n <= 0 or n >= len(items):
        return list(items)
    rnd = random.Random(SEED)
    return sorted(rnd.sample(items, n), key=items.index)


def _squad_paragraphs(path: Path) -> list[tuple[str, dict]]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return [(art.get("title", ""), p) for art in data for p in art["paragraphs"]]


def _sentence_of(breaks: list[list[int]], pos: int) -> int:
    for i, (s, e) in enumerate(breaks):
        if s <= pos < e or (i + 1 < len(breaks) and e <= pos < breaks[i + 1][0]):
            return i
    return len(breaks) - 1


def xquadr(corpus_lang: str, question_lang: str, n_questions: int, n_paragraphs: int) -> EvalSet:
    """Sentence retrieval (LAReQA XQuAD-R): corpus = the sentences of the first ``n_paragraphs``."""
    paras = _squad_paragraphs(EVAL_DIR / "xquad-r" / f"{corpus_lang}.json")
    if n_paragraphs > 0:
        paras = paras[:n_paragraphs]
    docs: list[Doc] = []
    gold: dict[str, str] = {}
    for pi, (title, p) in enumerate(paras):
        for si, sent in enumerate(p["sentences"]):
            docs.append(Doc(f"xquadr-{corpus_lang}/p{pi:03d}s{si:02d}.txt", title.replace("_", " "), sent))
        for qa in p["qas"]:
            si = _sentence_of(p["sentence_breaks"], qa["answers"][0]["answer_start"])
            gold[qa["id"]] = f"xquadr-{corpus_lang}/p{pi:03d}s{si:02d}.txt"
    qsrc = _squad_paragraphs(EVAL_DIR / "xquad-r" / f"{question_lang}.json")
    queries = [Query(qa["id"], qa["question"], {gold[qa["id"]]}) for _t, p in qsrc for qa in p["qas"] if qa["id"] in gold]
    name = f"xquadr-{corpus_lang}" if corpus_lang == question_lang else f"xquadr-{question_lang}-{corpus_lang}"
    queries = _sample(queries, n_questions)
    return EvalSet(name, f"xquadr-{corpus_lang}-p{n_paragraphs}", corpus_lang, "doc", docs, queries,
                   f"{len(paras)} paragraphs = {len(docs)} sentences, {len(queries)} questions")


def squad_paragraphs(name: str, path: Path, lang: str, n_questions: int, n_paragraphs: int) -> EvalSet:
    """Paragraph retrieval (PIAF, JSQuAD): corpus = the first ``n_paragraphs`` contexts."""
    paras = _squad_paragraphs(path)
    if n_paragraphs > 0:
        paras = paras[:n_paragraphs]
    docs, queries = [], []
    for pi, (title, p) in enumerate(paras):
        uri = f"{name}/p{pi:04d}.txt"
        docs.append(Doc(uri, title.replace("_", " ") if lang != "ja" else "", p["context"]))
        queries.extend(Query(str(qa["id"]), qa["question"], {uri}) for qa in p["qas"])
    queries = _sample(queries, n_questions)
    return EvalSet(name, f"{name}-p{n_paragraphs}", lang, "doc", docs, queries,
                   f"{len(docs)} paragraphs, {len(queries)} questions")


def piaf(n_questions: int, n_paragraphs: int) -> EvalSet:
    return squad_paragraphs("piaf", EVAL_DIR / "piaf" / "piaf-v1.1.json", "fr", n_questions, n_paragraphs)


def jsquad(n_questions: int, n_paragraphs: int) -> EvalSet:
    # JSQuAD contexts read "<title> [SEP] <text>": the title stays in the text, as the dataset gives it.
    return squad_paragraphs("jsquad", EVAL_DIR / "jsquad" / "valid-v1.3.json", "ja", n_questions, n_paragraphs)


def _name_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().rsplit(".", 1)[0])


def cuad(n_questions: int, n_contracts: int, max_chars: int = 60_000) -> EvalSet:
    """Clause retrieval inside one contract: (contract, category) -> chunks overlapping a clause.

    Contracts: every k-th of the sorted list (so agreement types vary), skipping ones over
    ``max_chars`` to keep embedding cheap. Question = the category description.
    """
    root = EVAL_DIR / "cuad"
    files = sorted((root / "full_contract_txt").glob("*.txt"))
    small = [f for f in files if f.stat().st_size <= max_chars]
    n = n_contracts if n_contracts > 0 else len(small)
    step = max(1, len(small) // n)
    chosen = small[::step][:n]
    by_key = {_name_key(f.name): f for f in chosen}
    descriptions: dict[str, str] = {}
    with open(root / "category_descriptions.csv", encoding="utf-8-sig", newline="") as fh:
        for row in csv.reader(fh):
            if not row or not row[0].startswith("Category:"):
                continue
            descriptions[row[0].split(":", 1)[1].strip()] = row[1].split(":", 1)[1].strip()
    csv.field_size_limit(1 << 30)
    queries: list[Query] = []
    with open(root / "master_clauses.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            f = by_key.get(_name_key(row["Filename"]))
            if f is None:
                continue
            for cat, desc in descriptions.items():
                if cat == "Document Name" or cat not in row:
                    continue
                try:
                    clauses = [c for c in ast.literal_eval(row[cat] or "[]") if c.strip()]
                except (ValueError, SyntaxError):
                    continue
                if clauses:
                    uri = f"cuad/{f.name}"
                    queries.append(Query(f"{f.name}#{cat}", desc, scope=uri, clauses=clauses))
    docs = [Doc(f"cuad/{f.name}", f.stem, f.read_text(encoding="utf-8", errors="replace")) for f in chosen]
    queries = _sample(queries, n_questions)
    return EvalSet("cuad", f"cuad-c{n}", "en", "chunk", docs, queries,
                   f"{len(docs)} contracts, {len(queries)} (contract, category) questions")


def financebench(n_questions: int, n_pdfs: int) -> EvalSet:
    """Page retrieval over the smallest ``n_pdfs`` PDFs that have questions (by file size)."""
    root = EVAL_DIR / "financebench"
    qs = [json.loads(line) for line in (root / "financebench_dev_questions.jsonl").read_text().splitlines() if line]
    with_q = sorted({q["doc_name"] for q in qs if (root / "pdfs" / f"{q['doc_name']}.pdf").exists()},
                    key=lambda d: ((root / "pdfs" / f"{d}.pdf").stat().st_size, d))
    chosen = with_q[:n_pdfs] if n_pdfs > 0 else with_q
    docs = [Doc(str(root / "pdfs" / f"{d}.pdf"), d, path=root / "pdfs" / f"{d}.pdf") for d in chosen]
    uris = {d: str(root / "pdfs" / f"{d}.pdf") for d in chosen}
    queries = [
        Query(q["financebench_id"], q["question"],
              {(uris[q["doc_name"]], int(e["evidence_page_num"]) + 1) for e in q["evidence"]})
        for q in qs if q["doc_name"] in uris
    ]
    queries = _sample(queries, n_questions)
    return EvalSet("financebench", f"financebench-d{len(chosen)}", "en", "page", docs, queries,
                   f"{len(docs)} PDFs, {len(queries)} questions")


def load(name: str, n_questions: int, corpus_size: int | None, defaults: dict[str, tuple[int, int]]) -> EvalSet:
    dq, dc = defaults[name]
    nq = n_questions or dq
    nc = dc if corpus_size is None else corpus_size
    if name.startswith("xquadr-"):
        parts = name.split("-")[1:]
        qlang, clang = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        return xquadr(clang, qlang, nq, nc)
    if name == "piaf":
        return piaf(nq, nc)
    if name == "jsquad":
        return jsquad(nq, nc)
    if name == "cuad":
        return cuad(nq, nc)
    if name == "financebench":
        return financebench(nq, nc)
    raise SystemExit(f"unknown set {name!r}")
