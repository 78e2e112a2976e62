"""The CLI as scripts use it: JSON that can be relied on, data dir from flag or environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import EXAMPLES


def run(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "souverain", *args], capture_output=True, text=True, env=full_env,
                          timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    docs = tmp_path_factory.mktemp("cli-docs")
    for name in ("employee-handbook.pdf", "anzen-kitei-ja.md"):
        shutil.copy(EXAMPLES / name, docs / name)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.5 nothing here")
    data = tmp_path_factory.mktemp("cli-data")
    proc = run("--data-dir", str(data), "ingest", str(docs), "--json")
    reports = {Path(r["uri"]).name: r for r in json.loads(proc.stdout)}
    assert reports["employee-handbook.pdf"]["status"] == "indexed"
    assert reports["broken.pdf"]["status"] == "failed" and reports["broken.pdf"]["message"]
    return data, docs


def test_search_json(cli_data: tuple[Path, Path]) -> None:
    data, docs = cli_data
    out = json.loads(run("--data-dir", str(data), "search", "paid annual leave", "--json").stdout)
    assert isinstance(out, list) and out
    top = out[0]
    assert {"document", "title", "page", "score", "text"} <= set(top)
    assert top["document"] == str(docs / "employee-handbook.pdf") and top["page"] == 3


def test_ask_json_uses_env_data_dir(cli_data: tuple[Path, Path]) -> None:
    data, docs = cli_data
    proc = run("ask", "What is the maximum forklift speed?", "--json", env={"SOUVERAIN_DATA_DIR": str(data)})
    out = json.loads(proc.stdout)
    assert out["abstained"] is False
    c = out["citations"][0]
    assert {"n", "document", "title", "page", "quote"} <= set(c)
    assert c["document"] == str(docs / "anzen-kitei-ja.md") and "時速10キロメートル" in c["quote"]
    assert "[1]" in out["answer"]


def test_ask_not_found(cli_data: tuple[Path, Path]) -> None:
    data, _ = cli_data
    out = json.loads(run("--data-dir", str(data), "ask", "Who painted the Mona Lisa?", "--json").stdout)
    assert out["abstained"] is True and out["citations"] == []


def test_status_and_reingest_unchanged(cli_data: tuple[Path, Path]) -> None:
    data, docs = cli_data
    st = json.loads(run("--data-dir", str(data), "status", "--json").stdout)
    assert st["documents"] == 2 and st["chunks_awaiting_embeddings"] == 0 and st["index_bytes"] > 0
    assert st["files_failed_or_without_text"] == 1
    again = json.loads(run("--data-dir", str(data), "ingest", str(docs), "--json").stdout)
    statuses = {Path(r["uri"]).name: r["status"] for r in again}
    assert statuses == {"employee-handbook.pdf": "unchanged", "anzen-kitei-ja.md": "unchanged", "broken.pdf": "failed"}


def test_separate_data_dirs_are_independent(cli_data: tuple[Path, Path], tmp_path: Path) -> None:
    out = json.loads(run("--data-dir", str(tmp_path / "empty"), "search", "paid annual leave", "--json").stdout)
    assert out == []


def test_bad_arguments_give_clear_errors(cli_data: tuple[Path, Path]) -> None:
    data, _ = cli_data
    proc = run("--data-dir", str(data), "search", "x", "--mode", "magic", check=False)
    assert proc.returncode != 0 and "hybrid, lexical or dense" in proc.stderr
    proc = run("--data-dir", str(data), "ingest", str(data / "does-not-exist"), "--json", check=False)
    assert proc.returncode == 1 and "no such file" in proc.stdout
