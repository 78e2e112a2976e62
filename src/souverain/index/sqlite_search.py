"""Retriever for the SQLite store: FTS5/BM25 lexical search and exact vector search.

The access filter is part of every query:
- lexical: an ``EXISTS`` over ``document_acl`` inside the FTS5 statement, before ``LIMIT``;
- dense: the admissible documents are selected in SQL first, and rows of other documents are
  masked to -inf *before* the top-k is taken, so a forbidden chunk can never take a slot or leave
  this module.

Vectors live in a float32 matrix in memory (exact cosine = dot product on normalised rows),
loaded incrementally by ``vectors.seq`` and reloaded in full when ``vectors_epoch`` moves.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

import numpy as np

from ..documents import AccessFilter, SearchFilters, SearchHit
from ..text.analysis import query_terms
from .sqlite_store import SQLiteStore, acl_clause


def filter_clause(filters: SearchFilters) -> tuple[str, list[object]]:
    """Document-level filters as SQL over ``documents d`` (semantics: docs/FILTER_SEMANTICS.md)."""
    parts: list[str] = []
    params: list[object] = []
    for column, values in (("d.source", filters.sources), ("d.format", filters.formats)):
        if values:
            parts.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
    if filters.modified_after:
        parts.append("coalesce(d.modified_at, d.ingested_at) >= ?")
        params.append(filters.modified_after.isoformat())
    if filters.modified_before:
        parts.append("coalesce(d.modified_at, d.ingested_at) < ?")
        params.append(filters.modified_before.isoformat())
    if filters.uri_prefix:
        parts.append("substr(d.uri, 1, ?) = ?")
        params.extend([len(filters.uri_prefix), filters.uri_prefix])
    return (" AND ".join(parts) or "1"), params


def _language_clause(filters: SearchFilters) -> tuple[str, list[object]]:
    if not filters.languages:
        return "1", []
    return f"c.language IN ({','.join('?' * len(filters.languages))})", list(filters.languages)


_HIT_COLS = ("c.id, d.uri, d.title, c.page, c.char_start, c.char_end, c.text, c.heading_path, c.language, "
             "d.format, d.source")


def _hit(row: Sequence[object], score: float) -> SearchHit:
    cid, uri, title, page, cs, ce, text, hp, lang, fmt, source = row
    return SearchHit(
        chunk_id=int(cid), doc_uri=str(uri), title=str(title), page=int(page), char_start=int(cs),  # type: ignore[call-overload]
        char_end=int(ce), text=str(text), score=score, heading_path=tuple(json.loads(str(hp))),  # type: ignore[call-overload]
        language=str(lang), format=str(fmt), source=str(source),
    )


class _VectorMatrix:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.model = ""
        self.epoch = -1
        self.seq = 0
        self.ids = np.zeros(0, dtype=np.int64)
        self.docs = np.zeros(0, dtype=np.int64)
        self.langs = np.zeros(0, dtype=object)
        self.matrix = np.zeros((0, 0), dtype=np.float32)


class SQLiteRetriever:
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self._vm = _VectorMatrix()
        self._languages: tuple[object, tuple[str, ...]] | None = None
        self._count: tuple[object, int] | None = None
        self._allowed_cache: dict[tuple[object, ...], np.ndarray] = {}
        self._allowed_lock = threading.Lock()

    # lexical -------------------------------------------------------------------------------
    def indexed_languages(self) -> list[str]:
        """The (up to 8) most frequent chunk languages; the query is stemmed in each of them.

        The GROUP BY scans every chunk (~30 ms at 10k chunks, several times that at 100k) and used to run
        on every lexical query and again for the hybrid coverage, so the answer is cached until
        ``max(chunks.id)`` moves: new chunks always get higher ids, and a stale extra language after a
        delete only adds a few OR-ed stem variants to a query.
        """
        marker = self.store.conn.execute("SELECT max(id) FROM chunks").fetchone()[0]
        cached = self._languages
        if cached is not None and cached[0] == marker:
            return list(cached[1])
        langs = [lang for (lang,) in self.store.conn.execute(
            "SELECT language FROM chunks WHERE language != '' GROUP BY language ORDER BY count(*) DESC LIMIT 8")]
        self._languages = (marker, tuple(langs))
        return langs

    def doc_freqs(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """(chunks containing each term, total chunks), from FTS5's own vocabulary table."""
        conn = self.store.conn
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, chunks_fts, 'row')")
        uniq = list(dict.fromkeys(terms))
        df: dict[str, int] = dict.fromkeys(uniq, 0)
        for i in range(0, len(uniq), 200):
            part = uniq[i : i + 200]
            df.update(conn.execute(
                f"SELECT term, doc FROM temp.chunks_vocab WHERE term IN ({','.join('?' * len(part))})", part).fetchall())
        return df, self.chunk_count()

    def chunk_count(self) -> int:
        """Number of chunks, cached like ``indexed_languages`` (only IDF weights use it)."""
        marker = self.store.conn.execute("SELECT max(id) FROM chunks").fetchone()[0]
        if self._count is None or self._count[0] != marker:
            self._count = (marker, int(self.store.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]))
        return self._count[1]

    def lexical(self, query: str, access: AccessFilter, filters: SearchFilters, k: int) -> list[SearchHit]:
        terms = query_terms(query, self.indexed_languages())
        if not terms:
            return []
        # FTS5's BM25 clamps the IDF of a term found in more than half of the rows to ~0, so such terms
        # cannot change the ranking; they only make FTS5 score most of the corpus (338 -> few ms at 100k
        # chunks). They are kept when nothing rarer is left.
        df, total = self.doc_freqs(terms)
        present = [t for t in terms if df.get(t, 0) > 0]
        if not present:
            return []
        terms = [t for t in present if df[t] * 2 <= total] or present
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        acl, acl_params = acl_clause(access)
        flt, flt_params = filter_clause(filters)
        lang, lang_params = _language_clause(filters)
        # Rank ids only (access filter and filters inside, before LIMIT), then fetch the columns of the
        # top k: selecting the hit columns in the ranking query made SQLite carry every matching row's
        # text through the sort.
        rows = self.store.conn.execute(
            "WITH top AS (SELECT c.id AS id, bm25(chunks_fts, 1.0, 0.4) AS s FROM chunks_fts "
            "JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d ON d.id = c.doc_id "
            f"WHERE chunks_fts MATCH ? AND {acl} AND {flt} AND {lang} ORDER BY s LIMIT ?) "
            f"SELECT {_HIT_COLS}, top.s FROM top JOIN chunks c ON c.id = top.id JOIN documents d ON d.id = c.doc_id "
            "ORDER BY top.s, c.id",
            [match, *acl_params, *flt_params, *lang_params, k],
        ).fetchall()
        hits = []
        for rank, row in enumerate(rows, 1):
            h = _hit(row[:-1], -float(row[-1]))
            h.lexical_score, h.lexical_rank = h.score, rank
            hits.append(h)
        return hits

    # dense ---------------------------------------------------------------------------------
    def _refresh(self, model: str) -> _VectorMatrix:
        vm = self._vm
        conn = self.store.conn
        with vm.lock:
            epoch = int(conn.execute("SELECT value FROM meta WHERE key='vectors_epoch'").fetchone()[0])
            if epoch != vm.epoch or model != vm.model:
                vm.epoch, vm.model, vm.seq = epoch, model, 0
                vm.ids = np.zeros(0, dtype=np.int64)
                vm.docs = np.zeros(0, dtype=np.int64)
                vm.langs = np.zeros(0, dtype=object)
                vm.matrix = np.zeros((0, 0), dtype=np.float32)
            rows = conn.execute(
                "SELECT v.seq, v.chunk_id, c.doc_id, c.language, v.vec FROM vectors v JOIN chunks c ON c.id = v.chunk_id "
                "WHERE v.model = ? AND v.seq > ? ORDER BY v.seq", (model, vm.seq),
            ).fetchall()
            if rows:
                new = np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float32).reshape(len(rows), -1)
                vm.matrix = new.copy() if vm.matrix.size == 0 else np.vstack([vm.matrix, new])
                vm.ids = np.concatenate([vm.ids, np.array([r[1] for r in rows], dtype=np.int64)])
                vm.docs = np.concatenate([vm.docs, np.array([r[2] for r in rows], dtype=np.int64)])
                vm.langs = np.concatenate([vm.langs, np.array([r[3] for r in rows], dtype=object)])
                vm.seq = int(rows[-1][0])
            return vm

    def allowed_documents(self, access: AccessFilter, filters: SearchFilters) -> np.ndarray:
        """Ids of the documents the access filter (and document-level filters) admit.

        Cached by (principal set, filters, ``meta.acl_epoch``); triggers move the epoch on every change
        to documents or their ACL, so the cache can never answer with yesterday's permissions.
        """
        conn = self.store.conn
        epoch = conn.execute("SELECT value FROM meta WHERE key='acl_epoch'").fetchone()
        key = (access.principals, filters, epoch[0] if epoch else None)
        with self._allowed_lock:
            hit = self._allowed_cache.get(key)
        if hit is not None and epoch is not None:
            return hit
        acl, acl_params = acl_clause(access)
        flt, flt_params = filter_clause(filters)
        allowed = np.array(
            [i for (i,) in conn.execute(f"SELECT d.id FROM documents d WHERE {acl} AND {flt}", [*acl_params, *flt_params])],
            dtype=np.int64,
        )
        with self._allowed_lock:
            if len(self._allowed_cache) >= 128:
                self._allowed_cache.pop(next(iter(self._allowed_cache)))
            self._allowed_cache[key] = allowed
        return allowed

    def _allowed_mask(self, vm: _VectorMatrix, access: AccessFilter, filters: SearchFilters) -> np.ndarray:
        mask = np.isin(vm.docs, self.allowed_documents(access, filters))
        if filters.languages:
            mask &= np.isin(vm.langs, list(filters.languages))
        return mask

    def dense(
        self, vector: np.ndarray, model: str, access: AccessFilter, filters: SearchFilters, k: int
    ) -> list[SearchHit]:
        vm = self._refresh(model)
        if vm.ids.size == 0:
            return []
        with vm.lock:
            matrix, ids = vm.matrix, vm.ids
            mask = self._allowed_mask(vm, access, filters)
        # einsum, not ``matrix @ vector``: OpenBLAS runs this matrix-vector product on its thread pool, and
        # waking those threads between queries costs ~15 ms on a busy 2-core host (0.4 ms when warm);
        # einsum's single-threaded loop takes ~1.5 ms at 10k rows and is no slower at 100k (memory-bound).
        scores = np.einsum("ij,j->i", matrix, np.asarray(vector, dtype=np.float32))
        scores[~mask] = -np.inf
        n = int(min(k, int(mask.sum())))
        if n <= 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return self._hits_by_id([(int(ids[i]), float(scores[i])) for i in top], access, dense=True)

    def dense_scores(
        self, vector: np.ndarray, model: str, access: AccessFilter, chunk_ids: Sequence[int]
    ) -> dict[int, float]:
        """Cosine similarity of the query to specific chunks (that the access filter admits)."""
        if not chunk_ids:
            return {}
        vm = self._refresh(model)
        with vm.lock:
            matrix, ids, docs = vm.matrix, vm.ids, vm.docs
        allowed = self.allowed_documents(access, SearchFilters())
        rows = np.nonzero(np.isin(ids, np.asarray(chunk_ids, dtype=np.int64)) & np.isin(docs, allowed))[0]
        if rows.size == 0:
            return {}
        sims = np.einsum("ij,j->i", matrix[rows], np.asarray(vector, dtype=np.float32))
        return {int(ids[r]): float(v) for r, v in zip(rows, sims, strict=True)}

    def _hits_by_id(self, scored: list[tuple[int, float]], access: AccessFilter, dense: bool) -> list[SearchHit]:
        if not scored:
            return []
        acl, acl_params = acl_clause(access)
        marks = ",".join("?" * len(scored))
        rows = {
            int(r[0]): r
            for r in self.store.conn.execute(
                f"SELECT {_HIT_COLS} FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id IN ({marks}) AND {acl}",
                [*(cid for cid, _ in scored), *acl_params],
            )
        }
        hits = []
        for rank, (cid, score) in enumerate(scored, 1):
            if cid in rows:
                h = _hit(rows[cid], score)
                if dense:
                    h.dense_score, h.dense_rank = score, rank
                hits.append(h)
        return hits

    def chunks_by_id(self, chunk_ids: Sequence[int], access: AccessFilter) -> list[SearchHit]:
        return self._hits_by_id([(c, 0.0) for c in chunk_ids], access, dense=False)
