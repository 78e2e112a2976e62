"""SQLite schema and connection handling for the embedded index.

One database file holds document metadata, page texts (citations are verified against them),
chunks, the FTS5 lexical index over analysed terms, vectors and the embedding cache.

- WAL mode so searches never wait for a writer; one connection per thread.
- ``chunks_fts`` stores analysed terms (see text/analysis.py), not raw text: stemming and Japanese
  segmentation happen in Python, so FTS5's own tokenizer only splits on spaces.
- ``vectors.seq`` only grows: the in-memory vector matrix loads new rows incrementally and reloads
  in full only when ``meta.vectors_epoch`` changes (a delete happened).
- ``embedding_cache`` is keyed by (model, sha256 of the embedded text): unchanged text is never
  embedded twice, even across re-ingestion or a document moving to another path.
- ``jobs``/``job_reports`` hold ingestion jobs (ingest/jobs.py; SQL in sqlite_jobs.py) and
  ``conversations``/``messages`` the chat history (SQL in sqlite_conversations.py). All tables are
  created with IF NOT EXISTS, so an index made by an older version gains them on open.
- Sources (SQL in sqlite_sources.py, logic in sources/): ``sources`` (configuration with credential
  *references* only, schedule, and the sync state: cursor, pass epoch, counts, last error),
  ``source_items`` (what the runner knows of each item: its document uri, version, ACL hash, the
  last full pass that saw it) and ``external_group_members`` (a source's groups, expanded into
  users' principals by the identity query).
- Identity (SQL in sqlite_identity.py, logic in governance/identity.py): ``users``, ``user_identities``
  (OIDC (issuer, subject) -> user), ``user_external_principals`` (``ext:<source>:<id>`` held by a user),
  ``access_groups`` with ``group_user_members`` and ``group_group_members`` (nesting), ``sessions``
  (SHA-256 of the session id) and ``api_keys`` (HMAC of the key). Users, groups and keys use
  AUTOINCREMENT so an id is never reused: a new user must never inherit ``user:<id>`` grants of a
  removed one.
- Model gateway accounting (SQL in sqlite_usage.py, logic in gateway/accounting.py; docs/metering.md):
  ``api_key_limits`` and ``user_usage_limits`` (rpm, tpm, monthly tokens, allowed models, team),
  ``usage_reservations`` (admitted requests not settled yet; they expire) and ``usage_records`` (the
  ledger: one row per admitted request, with tokens, latency, status and the energy estimate). The
  ledger has no foreign keys on purpose: it outlives keys, users and groups.
- Model gateway suspensions (logic in gateway/models.py): ``model_suspensions``, one row per suspension of
  a model alias by an administrator, closed by ``resumed_at``/``resumed_by``; kept as the record.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    uri TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    format TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    language TEXT NOT NULL DEFAULT '',
    modified_at TEXT,
    ingested_at TEXT NOT NULL,
    page_count INTEGER NOT NULL,
    char_count INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS document_acl (
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    principal TEXT NOT NULL,
    PRIMARY KEY (doc_id, principal)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS document_acl_principal ON document_acl(principal, doc_id);
CREATE TABLE IF NOT EXISTS pages (
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    PRIMARY KEY (doc_id, number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    page INTEGER NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    text TEXT NOT NULL,
    heading_path TEXT NOT NULL DEFAULT '[]',
    language TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'text',
    embed_sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(terms, context, tokenize = "unicode61 remove_diacritics 0");
CREATE TABLE IF NOT EXISTS vectors (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id INTEGER NOT NULL UNIQUE REFERENCES chunks(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    vec BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS embedding_cache (
    model TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY (model, sha256)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ingest_reports (
    id INTEGER PRIMARY KEY,
    uri TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}',
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ingest_reports_uri ON ingest_reports(uri, id);
-- acl_epoch moves on every change to documents or their ACL, whoever writes it: caches of admitted
-- document ids are keyed by it, so a permission change is effective on the very next query.
CREATE TRIGGER IF NOT EXISTS acl_epoch_acl_ins AFTER INSERT ON document_acl
BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'acl_epoch'; END;
CREATE TRIGGER IF NOT EXISTS acl_epoch_acl_del AFTER DELETE ON document_acl
BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'acl_epoch'; END;
CREATE TRIGGER IF NOT EXISTS acl_epoch_acl_upd AFTER UPDATE ON document_acl
BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'acl_epoch'; END;
CREATE TRIGGER IF NOT EXISTS acl_epoch_doc_ins AFTER INSERT ON documents
BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'acl_epoch'; END;
CREATE TRIGGER IF NOT EXISTS acl_epoch_doc_del AFTER DELETE ON documents
BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'acl_epoch'; END;
CREATE TRIGGER IF NOT EXISTS acl_epoch_doc_upd AFTER UPDATE ON documents
BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'acl_epoch'; END;
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    current TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    error TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL,
    pid INTEGER NOT NULL,
    items TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, id);
-- who uploaded a document through the web API (sharing is the owner's, or an admin's, to change)
CREATE TABLE IF NOT EXISTS document_owners (
    uri TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_reports (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (job_id, ordinal)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    title_auto INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations(owner, updated_at);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    answer TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, id);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    settings TEXT NOT NULL,
    schedule_minutes INTEGER NOT NULL DEFAULT 60,
    enabled INTEGER NOT NULL DEFAULT 1,
    watch INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    cursor TEXT,
    pass_epoch INTEGER NOT NULL DEFAULT 0,
    in_full_pass INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'never',
    last_started_at TEXT,
    last_finished_at TEXT,
    last_success_at TEXT,
    last_pruned_at TEXT,
    last_error TEXT NOT NULL DEFAULT '',
    counts TEXT NOT NULL DEFAULT '{}',
    next_run_at TEXT
);
CREATE TABLE IF NOT EXISTS source_items (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL,
    acl_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    seen_epoch INTEGER NOT NULL,
    PRIMARY KEY (source_id, item_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS source_items_epoch ON source_items(source_id, seen_epoch);
CREATE TABLE IF NOT EXISTS external_group_members (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    group_principal TEXT NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (source_id, group_principal, member)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS external_group_members_member ON external_group_members(member, group_principal);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'auditor')),
    disabled INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS user_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS user_identities_user ON user_identities(user_id);
CREATE TABLE IF NOT EXISTS user_external_principals (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    principal TEXT NOT NULL,
    PRIMARY KEY (user_id, principal)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS access_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS group_user_members (
    group_id INTEGER NOT NULL REFERENCES access_groups(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS group_user_members_user ON group_user_members(user_id);
CREATE TABLE IF NOT EXISTS group_group_members (
    parent_id INTEGER NOT NULL REFERENCES access_groups(id) ON DELETE CASCADE,
    child_id INTEGER NOT NULL REFERENCES access_groups(id) ON DELETE CASCADE,
    PRIMARY KEY (parent_id, child_id),
    CHECK (parent_id <> child_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS group_group_members_child ON group_group_members(child_id);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    key_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys(user_id);
-- model gateway suspensions (gateway/models.py): one row per suspension, closed by resumed_at; at most
-- one open suspension per alias
CREATE TABLE IF NOT EXISTS model_suspensions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alias TEXT NOT NULL,
    suspended_at TEXT NOT NULL,
    suspended_by TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    resumed_at TEXT,
    resumed_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS model_suspensions_open ON model_suspensions(alias) WHERE resumed_at IS NULL;
-- model gateway accounting (SQL in sqlite_usage.py, logic in gateway/accounting.py, docs/metering.md):
-- limits per API key and per user, open reservations of admitted requests, and the usage ledger
CREATE TABLE IF NOT EXISTS api_key_limits (
    key_id INTEGER PRIMARY KEY REFERENCES api_keys(id) ON DELETE CASCADE,
    rpm INTEGER CHECK (rpm IS NULL OR rpm > 0),
    tpm INTEGER CHECK (tpm IS NULL OR tpm > 0),
    tokens_per_month INTEGER CHECK (tokens_per_month IS NULL OR tokens_per_month > 0),
    models TEXT,
    team_id INTEGER REFERENCES access_groups(id) ON DELETE SET NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS user_usage_limits (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    rpm INTEGER CHECK (rpm IS NULL OR rpm > 0),
    tpm INTEGER CHECK (tpm IS NULL OR tpm > 0),
    tokens_per_month INTEGER CHECK (tokens_per_month IS NULL OR tokens_per_month > 0),
    models TEXT,
    team_id INTEGER REFERENCES access_groups(id) ON DELETE SET NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id INTEGER,
    key_public_id TEXT,
    user_id INTEGER,
    team_id INTEGER,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_reservations_key ON usage_reservations(key_id, created_at);
CREATE INDEX IF NOT EXISTS usage_reservations_user ON usage_reservations(user_id, created_at);
CREATE INDEX IF NOT EXISTS usage_reservations_expiry ON usage_reservations(expires_at);
CREATE TABLE IF NOT EXISTS usage_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reservation_id INTEGER UNIQUE,
    at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    key_id INTEGER,
    key_public_id TEXT,
    user_id INTEGER,
    team_id INTEGER,
    model TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'chat',
    reserved_tokens INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    total_tokens INTEGER NOT NULL,
    usage_exact INTEGER NOT NULL,
    latency_ms REAL,
    ttft_ms REAL,
    status TEXT NOT NULL,
    energy_kwh REAL,
    energy_kwh_min REAL,
    energy_kwh_max REAL,
    gco2e REAL,
    grid_factor REAL,
    grid_source TEXT,
    pue REAL,
    method TEXT,
    energy_note TEXT,
    measured_kwh REAL
);
CREATE INDEX IF NOT EXISTS usage_records_at ON usage_records(at);
CREATE INDEX IF NOT EXISTS usage_records_key ON usage_records(key_id, at);
CREATE INDEX IF NOT EXISTS usage_records_user ON usage_records(user_id, at);
"""


class Connections:
    """One sqlite3 connection per thread on the same database file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self.get()
        with conn:
            conn.executescript(SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('vectors_epoch', '0')")
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('acl_epoch', '0')")

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.ProgrammingError):  # closed from another thread already
                    conn.close()
            self._all.clear()
        self._local = threading.local()
