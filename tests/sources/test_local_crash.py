"""A 2,000-file folder sync killed with SIGKILL mid-way, then resumed: the index ends equal to the folder."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from souverain.documents import content_hash
from souverain.service import Souverain
from souverain.settings import Settings

CLI = [sys.executable, "-m", "souverain"]


def souverain(data: Path, *args: str, **kw: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen([*CLI, "--data-dir", str(data), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]


def stored_docs(db: Path, source: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM documents WHERE source=?", (source,)).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_sync_then_resume_ends_equal_to_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "big"
    for i in range(2000):
        d = root / f"dept{i % 7}" / f"team{i % 13}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"note-{i:04}.txt").write_text(f"Note {i}: the quarterly figure for unit {i} is {i * 37 % 1000}.\n")
    data = tmp_path / "data"
    add = souverain(data, "sources", "add", "big", "--kind", "local", "--schedule", "0",
                    "--config-json", json.dumps({"path": str(root), "acl": {"": ["public"]}}))
    assert add.wait(60) == 0, add.stderr.read() if add.stderr else ""

    proc = souverain(data, "sources", "sync", "big", "--quiet")
    db = data / "souverain.sqlite3"
    deadline = time.monotonic() + 240
    while stored_docs(db, "big") < 300 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the sync finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    killed_at = stored_docs(db, "big")
    assert 0 < killed_at < 2000

    # the folder changes while the sync is down: one file gone, one added, one edited
    (root / "dept0" / "team0" / "note-0000.txt").unlink()
    (root / "late.txt").write_text("A late addition about the canteen menu.")
    edited = next(root.glob("dept3/*/note-*.txt"))
    edited.write_text("Edited after the crash: the budget doubled.")
    os.utime(edited, ns=(time.time_ns(), time.time_ns() + 10**10))

    resume = souverain(data, "sources", "sync", "big", "--json")
    out, err = resume.communicate(timeout=400)
    assert resume.returncode == 0, err.decode()[-2000:]
    result = json.loads(out)
    assert result["status"] == "done"
    assert result["counts"]["added"] + killed_at >= 2000  # no item was counted as new twice

    app = Souverain(Settings(data_dir=data))
    try:
        files = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
        items = app.sources.item_uris("big")
        assert set(items) == set(files)
        stored = app.store.document_uris(source="big")
        assert len(stored) == len(set(stored)) == len(files)
        assert set(stored) == set(items.values())
        for item_id, uri in items.items():
            doc = app.store.get_document(uri)
            assert doc is not None and doc.sha256 == content_hash(files[item_id].read_bytes()), item_id
        jobs = [j for j in app.jobs.latest() if j["kind"] == "sync"]
        assert [j["status"] for j in jobs[:2]] == ["done", "failed"]  # the killed one is marked interrupted
        assert jobs[1]["error"] == "interrupted"
    finally:
        app.close()
