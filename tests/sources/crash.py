"""The crash scenario every connector test runs: a 2,000-document sync by the CLI, killed with SIGKILL
mid-way, then resumed; the index must end exactly equal to the source (one shared procedure, so each
connector's test only says how to fill and change its source)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from souverain.documents import content_hash
from souverain.service import Souverain
from souverain.settings import Settings


def cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONWARNINGS": "ignore", **extra}


def _cli(data: Path) -> list[str]:
    return [sys.executable, "-m", "souverain", "--data-dir", str(data), "sources"]


def stored_docs(db: Path, source: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM documents WHERE source=?", (source,)).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def add_source(data: Path, name: str, kind: str, settings: Mapping[str, Any], env: Mapping[str, str]) -> None:
    add = subprocess.run([*_cli(data), "add", name, "--kind", kind, "--schedule", "0", "--config-json",
                          json.dumps(settings)], env=dict(env), capture_output=True, timeout=120)
    assert add.returncode == 0, add.stderr.decode()


def sync_and_kill(data: Path, name: str, env: Mapping[str, str], *, after: int = 300, total: int = 2000) -> int:
    """Start ``sources sync``, SIGKILL it once ``after`` documents are stored; returns how many were."""
    proc = subprocess.Popen([*_cli(data), "sync", name, "--quiet"], env=dict(env), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    db = data / "souverain.sqlite3"
    deadline = time.monotonic() + 240
    while stored_docs(db, name) < after and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the sync finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    killed_at = stored_docs(db, name)
    assert 0 < killed_at < total
    return killed_at


def resume_sync(data: Path, name: str, env: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """Sync again to the end; returns the JSON result and everything the CLI printed."""
    resume = subprocess.run([*_cli(data), "sync", name, "--json"], env=dict(env), capture_output=True, timeout=400)
    output = resume.stdout.decode() + resume.stderr.decode()
    assert resume.returncode == 0, resume.stderr.decode()[-2000:]
    result: dict[str, Any] = json.loads(resume.stdout)
    assert result["status"] == "done"
    return result, output


def assert_index_equals(data: Path, name: str, source: Mapping[str, bytes]) -> None:
    """Item ids equal the source's, one document per item, no duplicates, every sha256 matching."""
    app = Souverain(Settings(data_dir=data))
    try:
        items = app.sources.item_uris(name)
        assert set(items) == set(source)
        stored = app.store.document_uris(source=name)
        assert len(stored) == len(set(stored)) == len(source)
        assert set(stored) == set(items.values())
        for item_id, uri in items.items():
            doc = app.store.get_document(uri)
            assert doc is not None and doc.sha256 == content_hash(source[item_id]), item_id
    finally:
        app.close()
