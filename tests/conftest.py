"""Shared fixtures: real SQLite indexes in temporary data directories, the real bundled embedder."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from souverain.service import Souverain
from souverain.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def sse_events(lines: Iterable[str]) -> list[tuple[str, str]]:
    """(event, data) pairs of a Server-Sent Events stream, as the answer endpoints send them."""
    events: list[tuple[str, str]] = []
    kind = ""
    for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append((kind, line[6:]))
    return events


def make_app(data_dir: Path, **settings: object) -> Souverain:
    return Souverain(Settings(data_dir=data_dir, **settings))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def examples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of examples/ (URIs are absolute paths of this copy)."""
    dest = tmp_path_factory.mktemp("corpus") / "examples"
    shutil.copytree(EXAMPLES, dest)
    return dest


@pytest.fixture(scope="session")
def examples_app(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path) -> Iterator[Souverain]:
    """The sample corpus ingested and fully embedded once for the whole session (read-only use)."""
    app = make_app(tmp_path_factory.mktemp("examples-index"))
    reports = app.ingest([examples_dir])
    assert all(r.status == "indexed" for r in reports), [(r.uri, r.status, r.message) for r in reports]
    app.worker.drain()
    yield app
    app.close()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Souverain]:
    a = make_app(tmp_path / "data")
    yield a
    a.close()
