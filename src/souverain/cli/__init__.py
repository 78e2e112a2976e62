"""The ``souverain`` command line: one module per command, all going through ``service.Souverain``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import ask, ingest, search, serve, sources, status, users
from .common import State

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Souverain: a sovereign AI assistant over your documents.")


@app.callback()
def _root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", envvar="SOUVERAIN_DATA_DIR", help="Index location (default ./data)."),
    ] = None,
) -> None:
    ctx.obj = State(data_dir)


for module in (ingest, search, ask, serve, status, users, sources):
    module.register(app)


def main() -> None:
    app()
