"""``souverain status``: what is indexed, what still awaits embeddings, which models answer."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from .common import State, print_json


def register(app: typer.Typer) -> None:
    @app.command()
    def status(ctx: typer.Context, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Counts, index size, pending embeddings and models."""
        state: State = ctx.obj
        st = state.app().status()
        if json_out:
            print_json(st)
            return
        console = Console()
        for key, value in st.items():
            console.print(f"[bold]{key}[/]: {value}", highlight=False)
