"""``souverain ingest PATH...``: parse, chunk and index files; per-file report; embeddings after."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..ingest.pipeline import FileReport
from .common import State, print_json

STYLE = {"indexed": "green", "unchanged": "dim", "failed": "red", "no_text": "yellow", "removed": "magenta"}


def register(app: typer.Typer) -> None:
    @app.command()
    def ingest(
        ctx: typer.Context,
        paths: Annotated[list[Path], typer.Argument(help="Files or folders to index.")],
        wait: Annotated[bool, typer.Option(help="Compute embeddings before returning.")] = True,
        json_out: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    ) -> None:
        """Index files and folders; every file gets a report (indexed, unchanged, failed, no_text, removed)."""
        state: State = ctx.obj
        app_ = state.app()
        console = Console(stderr=True)
        reports: list[FileReport] = []
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=console, transient=True, disable=json_out) as progress:
            task = progress.add_task("parsing", total=None)

            def on_file(rep: FileReport) -> None:
                progress.update(task, advance=1, description=f"parsing {Path(rep.uri).name[:40]}")

            reports = app_.jobs.run_paths(list(paths), on_file)  # recorded as a `path` job
        if not json_out:
            _print_reports(console, reports)
        if wait:
            pending = app_.worker.pending()
            if pending:
                with Progress(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                              console=console, transient=True, disable=json_out) as progress:
                    task = progress.add_task("embedding", total=pending)
                    app_.worker.drain(lambda done, total: progress.update(task, completed=done, total=total))
        if json_out:
            print_json([r.as_dict() for r in reports])
        else:
            left = app_.worker.pending() if wait else app_.store.count_pending_embeddings(app_.embedder.name)
            console.print(f"{left} chunks awaiting embeddings" if left else "all chunks embedded")
        failed = [r for r in reports if r.status == "failed"]
        raise typer.Exit(1 if failed and len(failed) == len(reports) else 0)


def _print_reports(console: Console, reports: list[FileReport]) -> None:
    table = Table(show_lines=False)
    for col in ("status", "file", "pages", "chunks", "lang", "detail"):
        table.add_column(col)
    for r in reports:
        detail = r.message or "; ".join(r.warnings[:2])
        table.add_row(f"[{STYLE[r.status]}]{r.status}[/]", Path(r.uri).name, str(r.pages or ""),
                      str(r.chunks or ""), r.language, detail[:100])
    console.print(table)
    counts: dict[str, int] = {}
    for r in reports:
        counts[r.status] = counts.get(r.status, 0) + 1
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()) or "no files")
