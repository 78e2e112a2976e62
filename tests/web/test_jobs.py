"""Ingestion jobs: cancel (queued and running), crashes, restart after a dead process, CLI jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from souverain.documents import RawDocument
from souverain.ingest.jobs import JobManager
from souverain.ingest.pipeline import FileReport, Ingestor
from souverain.service import Souverain
from souverain.settings import Settings

from ..conftest import EXAMPLES
from .conftest import API, assert_index_consistent, make_client, wait_job


class SlowIngestor(Ingestor):
    """The real ingestor, slowed down so a test can act while a job is running; it can also crash."""

    delay = 0.3

    def ingest_raw(self, raw: RawDocument, force: bool = False) -> FileReport:
        time.sleep(self.delay)
        if "crash" in raw.uri:
            raise RuntimeError("parser exploded")
        return super().ingest_raw(raw, force)


def slow_service(data_dir: Path) -> Souverain:
    svc = Souverain(Settings(data_dir=data_dir))
    svc.jobs = JobManager(  # type: ignore[misc]
        svc.store, svc.files, lambda p, s: SlowIngestor(svc.store, svc.ingestor(p, s).options), svc.wake_worker)
    return svc


def small_files(n: int) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (f"note-{i}.md", f"# Note {i}\n\nMeeting room {i} is booked on Tuesdays by team {i}.\n".encode()))
            for i in range(n)]


def test_cancel_running_and_queued_jobs_leaves_a_consistent_index(tmp_path: Path) -> None:
    with make_client(tmp_path / "data", slow_service(tmp_path / "data")) as c:
        first = c.post(f"{API}/documents", files=small_files(8)).json()["job"]
        second = c.post(f"{API}/documents", files=small_files(3)[1:]).json()["job"]
        assert second["status"] == "queued"
        queued = c.post(f"{API}/jobs/{second['id']}/cancel").json()
        assert queued["status"] == "cancelled" and [r["reason"] for r in queued["reports"]] == ["not_processed"] * 2
        deadline = time.time() + 30
        while c.get(f"{API}/jobs/{first['id']}").json()["done"] < 1 and time.time() < deadline:
            time.sleep(0.02)
        running = c.get(f"{API}/jobs/{first['id']}").json()
        assert running["status"] == "running" and running["eta_s"] is not None and running["current"].startswith("note-")
        c.post(f"{API}/jobs/{first['id']}/cancel")
        job = wait_job(c, first["id"])
        assert job["status"] == "cancelled" and job["finished_at"]
        statuses = [r["status"] for r in job["reports"]]
        assert len(statuses) == 8 and 1 <= statuses.count("indexed") < 8
        assert all(r["reason"] == "not_processed" for r in job["reports"] if r["status"] != "indexed")
        docs = c.get(f"{API}/documents").json()["documents"]
        indexed = {d["document"] for d in docs if d["id"] is not None}
        assert indexed == {r["uri"] for r in job["reports"] if r["status"] == "indexed"}
        assert_index_consistent(tmp_path / "data" / "souverain.sqlite3")
        # the stored bytes of files never indexed are gone, those of indexed ones stay
        assert len(list((tmp_path / "data" / "files").iterdir())) == len(indexed)


def test_a_crash_in_one_file_is_a_failed_report_not_a_dead_job(tmp_path: Path) -> None:
    svc = slow_service(tmp_path / "data")
    SlowIngestor.delay = 0.0
    try:
        with make_client(tmp_path / "data", svc) as c:
            files = [("files", ("a.md", b"# A\n\nAlpha text.\n")), ("files", ("crash.md", b"# C\n\nBoom.\n")),
                     ("files", ("b.md", b"# B\n\nBeta text.\n"))]
            job = wait_job(c, c.post(f"{API}/documents", files=files).json()["job"]["id"])
            assert job["status"] == "done"
            assert [(r["status"], r["reason"]) for r in job["reports"]] == [
                ("indexed", ""), ("failed", "internal_error"), ("indexed", "")]
            assert "parser exploded" in job["reports"][1]["message"]
    finally:
        SlowIngestor.delay = 0.3


def test_unfinished_jobs_of_a_dead_process_become_interrupted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    svc = Souverain(Settings(data_dir=data))
    items = [{"uri": "upload:x.md", "sha256": "0" * 64}]
    running = svc.jobs.table.create("upload", "running", items, "owner-of-dead-process", dead.pid, 1)
    queued = svc.jobs.table.create("upload", "queued", items, "owner-of-dead-process", dead.pid, 1)
    alive = svc.jobs.table.create("path", "running", items, "another-live-cli", os.getppid(), 1)
    svc.close()
    with make_client(data) as c:
        for job_id in (running, queued):
            job = c.get(f"{API}/jobs/{job_id}").json()
            assert job["status"] == "failed" and job["error"] == "interrupted" and job["finished_at"]
        assert c.get(f"{API}/jobs/{alive}").json()["status"] == "running"  # its process still runs


def test_cli_ingest_registers_a_path_job(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "release-notes.md").write_bytes((EXAMPLES / "release-notes.md").read_bytes())
    (docs / "broken.pdf").write_bytes(b"%PDF-1.5 nothing here")
    data = tmp_path / "data"
    proc = subprocess.run([sys.executable, "-m", "souverain", "--data-dir", str(data), "ingest", str(docs), "--json",
                           "--no-wait"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    reports = json.loads(proc.stdout)
    with make_client(data) as c:
        jobs = c.get(f"{API}/jobs").json()["jobs"]
        assert len(jobs) == 1
        job = jobs[0]
        assert job["kind"] == "path" and job["status"] == "done" and job["total"] == job["done"] == 2
        assert job["reports"] == reports
