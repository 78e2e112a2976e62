"""The embedded SQLite store (CRUD only; searching lives in sqlite_search.py).

Replacing a document is one ``BEGIN IMMEDIATE`` transaction: its old chunks, FTS rows, vectors,
pages and ACL go and the new ones arrive together, so a reader sees either the old or the new
version and a failure halfway loses nothing (the old version stays).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..documents import AccessFilter, Chunk, Page, validate_principal
from ..text.analysis import index_terms
from .base import DocumentRecord, PendingChunk
from .sqlite_schema import Connections


def embed_text(title: str, heading_path: Sequence[str], text: str) -> str:
    """What the embedder sees for a chunk: its document title and heading path give it context."""
    context = " > ".join([t for t in (title, *heading_path) if t])
    return f"{context}\n{text}" if context else text


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def acl_clause(access: AccessFilter, doc_column: str = "d.id") -> tuple[str, list[str]]:
    """SQL that admits a document only when one of its principals is in the access filter.

    An uncorrelated ``IN (SELECT ...)``: SQLite computes the admitted document ids once per statement
    (one index probe per principal on ``document_acl(principal, doc_id)``) and then tests membership.
    The correlated ``EXISTS`` form re-scanned the principal list for every candidate row: with a user
    in 1,000 groups it made a 100k-chunk search 30-40x slower (bench/acl_latency.py).
    """
    principals = sorted(access.principals)
    marks = ",".join("?" * len(principals))
    return (
        f"{doc_column} IN (SELECT a.doc_id FROM document_acl a WHERE a.principal IN ({marks}))",
        principals,
    )


def _to_dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self.conns = Connections(path)
        self.path = path

    @property
    def conn(self) -> sqlite3.Connection:
        return self.conns.get()

    def close(self) -> None:
        self.conns.close()

    # documents -----------------------------------------------------------------------------
    def _record(self, row: sqlite3.Row | tuple) -> DocumentRecord:
        (id_, uri, title, source, fmt, sha, size, lang, modified, ingested, pages, chars, chunks, meta) = row
        principals = tuple(
            p for (p,) in self.conn.execute("SELECT principal FROM document_acl WHERE doc_id=? ORDER BY 1", (id_,))
        )
        return DocumentRecord(
            uri=uri, title=title, source=source, format=fmt, sha256=sha, size_bytes=size, language=lang,
            modified_at=_to_dt(modified), ingested_at=_to_dt(ingested), page_count=pages, char_count=chars,
            chunk_count=chunks, principals=principals, metadata=json.loads(meta), id=id_,
        )

    _COLS = ("id, uri, title, source, format, sha256, size_bytes, language, modified_at, ingested_at, "
             "page_count, char_count, chunk_count, metadata")

    def get_document(self, uri: str) -> DocumentRecord | None:
        row = self.conn.execute(f"SELECT {self._COLS} FROM documents WHERE uri=?", (uri,)).fetchone()
        return self._record(row) if row else None

    def list_documents(self, access: AccessFilter, limit: int = 100, offset: int = 0) -> list[DocumentRecord]:
        clause, params = acl_clause(access)
        cols = ", ".join(f"d.{c.strip()}" for c in self._COLS.split(","))
        rows = self.conn.execute(
            f"SELECT {cols} FROM documents d WHERE {clause} ORDER BY d.uri LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return [self._record(r) for r in rows]

    def get_document_by_id(self, doc_id: int, access: AccessFilter) -> DocumentRecord | None:
        clause, params = acl_clause(access)
        cols = ", ".join(f"d.{c.strip()}" for c in self._COLS.split(","))
        row = self.conn.execute(f"SELECT {cols} FROM documents d WHERE d.id=? AND {clause}", [doc_id, *params]).fetchone()
        return self._record(row) if row else None

    def sha256_in_use(self, sha256: str) -> bool:
        return self.conn.execute("SELECT 1 FROM documents WHERE sha256=? LIMIT 1", (sha256,)).fetchone() is not None

    def document_uris(self, prefix: str = "", source: str | None = None) -> list[str]:
        sql, params = "SELECT uri FROM documents WHERE substr(uri, 1, ?) = ?", [len(prefix), prefix]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        return [u for (u,) in self.conn.execute(sql, params)]

    def replace_document(self, record: DocumentRecord, pages: Sequence[Page], chunks: Sequence[Chunk]) -> int:
        principals = sorted({validate_principal(p) for p in record.principals})
        now = (record.ingested_at or dt.datetime.now(dt.UTC)).isoformat()
        rows = []
        for c in chunks:
            terms = " ".join(index_terms(c.text, c.language))
            context = " ".join(index_terms(" ".join((record.title, *c.heading_path)), c.language))
            etext = embed_text(record.title, c.heading_path, c.text)
            rows.append((c, terms, context, etext))
        from ..documents import content_hash

        conn = self.conn
        with transaction(conn):
            old = conn.execute("SELECT id FROM documents WHERE uri=?", (record.uri,)).fetchone()
            if old:
                self._delete_doc_rows(conn, old[0])
            cur = conn.execute(
                "INSERT INTO documents(uri, title, source, format, sha256, size_bytes, language, modified_at, "
                "ingested_at, page_count, char_count, chunk_count, metadata) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.uri, record.title, record.source, record.format, record.sha256, record.size_bytes,
                 record.language, record.modified_at.isoformat() if record.modified_at else None, now,
                 len(pages), sum(len(p.text) for p in pages), len(chunks), json.dumps(record.metadata)),
            )
            doc_id = int(cur.lastrowid or 0)
            conn.executemany("INSERT INTO document_acl(doc_id, principal) VALUES (?, ?)",
                             [(doc_id, p) for p in principals])
            conn.executemany("INSERT INTO pages(doc_id, number, label, text) VALUES (?,?,?,?)",
                             [(doc_id, p.number, p.label, p.text) for p in pages])
            for c, terms, context, etext in rows:
                cur = conn.execute(
                    "INSERT INTO chunks(doc_id, ordinal, page, char_start, char_end, text, heading_path, language, "
                    "kind, embed_sha256) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (doc_id, c.ordinal, c.page, c.char_start, c.char_end, c.text, json.dumps(list(c.heading_path)),
                     c.language, c.kind, content_hash(etext.encode("utf-8"))),
                )
                conn.execute("INSERT INTO chunks_fts(rowid, terms, context) VALUES (?,?,?)",
                             (cur.lastrowid, terms, context))
        return doc_id

    def _delete_doc_rows(self, conn: sqlite3.Connection, doc_id: int) -> None:
        had_vectors = conn.execute(
            "SELECT 1 FROM vectors v JOIN chunks c ON c.id = v.chunk_id WHERE c.doc_id=? LIMIT 1", (doc_id,)
        ).fetchone()
        conn.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id=?)", (doc_id,))
        conn.execute("DELETE FROM vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE doc_id=?)", (doc_id,))
        conn.execute("DELETE FROM documents WHERE id=?", (doc_id,))  # cascades to chunks, pages, ACL
        if had_vectors:
            conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='vectors_epoch'")

    def delete_document(self, uri: str) -> bool:
        conn = self.conn
        with transaction(conn):
            row = conn.execute("SELECT id FROM documents WHERE uri=?", (uri,)).fetchone()
            if not row:
                return False
            self._delete_doc_rows(conn, row[0])
        return True

    def set_principals(self, uri: str, principals: Sequence[str]) -> bool:
        clean = sorted({validate_principal(p) for p in principals})
        conn = self.conn
        with transaction(conn):
            row = conn.execute("SELECT id FROM documents WHERE uri=?", (uri,)).fetchone()
            if not row:
                return False
            conn.execute("DELETE FROM document_acl WHERE doc_id=?", (row[0],))
            conn.executemany("INSERT INTO document_acl(doc_id, principal) VALUES (?,?)", [(row[0], p) for p in clean])
        return True

    # pages and chunks ----------------------------------------------------------------------
    def page_text(self, uri: str, page: int, access: AccessFilter) -> str | None:
        clause, params = acl_clause(access)
        row = self.conn.execute(
            f"SELECT p.text FROM pages p JOIN documents d ON d.id = p.doc_id WHERE d.uri=? AND p.number=? AND {clause}",
            [uri, page, *params],
        ).fetchone()
        return row[0] if row else None

    def get_page(self, doc_id: int, number: int, access: AccessFilter) -> tuple[str, str] | None:
        """(label, text) of one page of a document the caller may read."""
        clause, params = acl_clause(access)
        row = self.conn.execute(
            f"SELECT p.label, p.text FROM pages p JOIN documents d ON d.id = p.doc_id "
            f"WHERE d.id=? AND p.number=? AND {clause}", [doc_id, number, *params],
        ).fetchone()
        return (row[0], row[1]) if row else None

    # embeddings ----------------------------------------------------------------------------
    def pending_embeddings(self, model: str, limit: int) -> list[PendingChunk]:
        """Chunks without a vector for ``model``, shortest first so batches have similar lengths."""
        rows = self.conn.execute(
            "SELECT c.id, d.title, c.heading_path, c.text, c.embed_sha256 FROM chunks c "
            "JOIN documents d ON d.id = c.doc_id "
            "WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.chunk_id = c.id AND v.model = ?) "
            "ORDER BY length(c.text), c.id LIMIT ?",
            (model, limit),
        ).fetchall()
        return [PendingChunk(cid, embed_text(title, json.loads(hp), text), sha) for cid, title, hp, text, sha in rows]

    def count_pending_embeddings(self, model: str) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM chunks c WHERE NOT EXISTS "
            "(SELECT 1 FROM vectors v WHERE v.chunk_id = c.id AND v.model = ?)", (model,)
        ).fetchone()
        return int(row[0])

    def cached_vectors(self, model: str, shas: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        uniq = list(dict.fromkeys(shas))
        for i in range(0, len(uniq), 500):
            part = uniq[i : i + 500]
            marks = ",".join("?" * len(part))
            for sha, blob in self.conn.execute(
                f"SELECT sha256, vec FROM embedding_cache WHERE model=? AND sha256 IN ({marks})", [model, *part]
            ):
                out[sha] = np.frombuffer(blob, dtype=np.float32)
        return out

    def add_vectors(self, model: str, items: Sequence[tuple[int, str, np.ndarray]]) -> None:
        """Store vectors for chunks (skipping chunks deleted meanwhile) and fill the cache."""
        conn = self.conn
        with transaction(conn):
            for chunk_id, sha, vec in items:
                blob = np.asarray(vec, dtype=np.float32).tobytes()
                conn.execute("INSERT OR IGNORE INTO embedding_cache(model, sha256, vec) VALUES (?,?,?)",
                             (model, sha, blob))
                if conn.execute("SELECT 1 FROM chunks WHERE id=?", (chunk_id,)).fetchone():
                    conn.execute("INSERT OR REPLACE INTO vectors(chunk_id, model, vec) VALUES (?,?,?)",
                                 (chunk_id, model, blob))

    # reports and stats ---------------------------------------------------------------------
    def record_report(self, uri: str, status: str, reason: str, detail: dict[str, object]) -> None:
        self.conn.execute(
            "INSERT INTO ingest_reports(uri, status, reason, detail, at) VALUES (?,?,?,?,?)",
            (uri, status, reason, json.dumps(detail, default=str), dt.datetime.now(dt.UTC).isoformat()),
        )

    def latest_reports(self, uris: Sequence[str]) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for i in range(0, len(uris), 500):
            part = list(uris[i : i + 500])
            marks = ",".join("?" * len(part))
            for uri, detail in self.conn.execute(
                f"SELECT uri, detail FROM ingest_reports WHERE id IN "
                f"(SELECT max(id) FROM ingest_reports WHERE uri IN ({marks}) GROUP BY uri)", part):
                out[uri] = json.loads(detail)
        return out

    def unindexed_reports(self, uri_prefix: str) -> list[dict[str, object]]:
        """Latest failed/no_text reports of files under ``uri_prefix`` that have no stored document."""
        rows = self.conn.execute(
            "SELECT r.detail, r.at FROM ingest_reports r WHERE r.id IN (SELECT max(id) FROM ingest_reports "
            "WHERE substr(uri, 1, ?) = ? GROUP BY uri) AND r.status IN ('failed', 'no_text') "
            "AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.uri = r.uri) ORDER BY r.uri",
            (len(uri_prefix), uri_prefix)).fetchall()
        return [{**json.loads(detail), "at": at} for detail, at in rows]

    def stats(self) -> dict[str, object]:
        c = self.conn
        docs, pages = c.execute("SELECT count(*), coalesce(sum(page_count), 0) FROM documents").fetchone()
        chunks = c.execute("SELECT count(*) FROM chunks").fetchone()[0]
        vectors = c.execute("SELECT count(*) FROM vectors").fetchone()[0]
        cache = c.execute("SELECT count(*) FROM embedding_cache").fetchone()[0]
        by_format = dict(c.execute("SELECT format, count(*) FROM documents GROUP BY format").fetchall())
        by_lang = dict(c.execute("SELECT language, count(*) FROM chunks GROUP BY language").fetchall())
        failed = c.execute(
            "SELECT count(*) FROM ingest_reports r WHERE r.id = (SELECT max(id) FROM ingest_reports x WHERE x.uri=r.uri) "
            "AND r.status IN ('failed', 'no_text')"
        ).fetchone()[0]
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return {
            "documents": docs, "pages": pages, "chunks": chunks, "vectors": vectors,
            "chunks_awaiting_embeddings": chunks - vectors, "embedding_cache_entries": cache,
            "documents_by_format": by_format, "chunks_by_language": by_lang,
            "files_failed_or_without_text": failed, "index_bytes": size,
        }
