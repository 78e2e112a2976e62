"""A 2,000-file folder sync killed with SIGKILL mid-way, then resumed: the index ends equal to the folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

from souverain.service import Souverain
from souverain.settings import Settings

from .crash import add_source, assert_index_equals, cli_env, resume_sync, sync_and_kill


def test_sigkill_mid_sync_then_resume_ends_equal_to_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "big"
    for i in range(2000):
        d = root / f"dept{i % 7}" / f"team{i % 13}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"note-{i:04}.txt").write_text(f"Note {i}: the quarterly figure for unit {i} is {i * 37 % 1000}.\n")
    data, env = tmp_path / "data", cli_env()
    add_source(data, "big", "local", {"path": str(root), "acl": {"": ["public"]}}, env)
    killed_at = sync_and_kill(data, "big", env)

    # the folder changes while the sync is down: one file gone, one added, one edited
    (root / "dept0" / "team0" / "note-0000.txt").unlink()
    (root / "late.txt").write_text("A late addition about the canteen menu.")
    edited = next(root.glob("dept3/*/note-*.txt"))
    edited.write_text("Edited after the crash: the budget doubled.")
    os.utime(edited, ns=(time.time_ns(), time.time_ns() + 10**10))

    result, _ = resume_sync(data, "big", env)
    assert result["counts"]["added"] + killed_at >= 2000  # no item was counted as new twice
    assert_index_equals(data, "big", {p.relative_to(root).as_posix(): p.read_bytes()
                                      for p in root.rglob("*") if p.is_file()})
    app = Souverain(Settings(data_dir=data))
    try:
        jobs = [j for j in app.jobs.latest() if j["kind"] == "sync"]
        assert [j["status"] for j in jobs[:2]] == ["done", "failed"]  # the killed one is marked interrupted
        assert jobs[1]["error"] == "interrupted"
    finally:
        app.close()
