"""``souverain sources add|list|show|update|check|sync|remove``: configure and sync document sources.

Settings are given as JSON (``--config-json`` or ``--config-file``); credentials inside them are
references (``env:NAME`` or ``file:/path``), never values. ``sync`` runs in this process, recorded
as a job like a server-side sync; killed at any point, the next ``sync`` resumes where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..ingest.pipeline import FileReport
from ..sources.base import SourceError
from ..sources.manager import SourceConfigError, SourceNotFound, SyncBusyError
from ..sources.registry import CONNECTORS, TITLES
from ..sources.runner import SyncProgress
from .common import State, fail, print_json

sources_app = typer.Typer(no_args_is_help=True, help="Document sources: SharePoint/OneDrive, Google Drive, WebDAV, S3, folders.")


def register(app: typer.Typer) -> None:
    app.add_typer(sources_app, name="sources")


def _settings(config_json: str | None, config_file: Path | None) -> dict[str, Any]:
    if config_json and config_file:
        fail("give --config-json or --config-file, not both")
    try:
        text = config_file.read_text(encoding="utf-8") if config_file else (config_json or "{}")
        value = json.loads(text)
    except OSError as exc:
        fail(f"cannot read {config_file}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        fail(f"the settings are not valid JSON: {exc}")
    if not isinstance(value, dict):
        fail("the settings must be a JSON object")
    return value


@sources_app.command("kinds")
def kinds() -> None:
    """The kinds of source this installation can sync."""
    for kind in CONNECTORS:
        typer.echo(f"{kind:8} {TITLES[kind]}")


@sources_app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name, e.g. hr-sharepoint.")],
    kind: Annotated[str, typer.Option("--kind", help=f"One of: {', '.join(CONNECTORS)}.")],
    config_json: Annotated[str | None, typer.Option("--config-json", help="Settings as a JSON object.")] = None,
    config_file: Annotated[Path | None, typer.Option("--config-file", help="A JSON file with the settings.")] = None,
    schedule: Annotated[int, typer.Option("--schedule", help="Minutes between syncs (0 = manual only).")] = 60,
    watch: Annotated[bool, typer.Option("--watch/--no-watch", help="Local folders: sync on every change.")] = False,
    disabled: Annotated[bool, typer.Option("--disabled", help="Add without syncing on schedule.")] = False,
) -> None:
    """Add a source (settings are validated; credentials must be env:/file: references)."""
    state: State = ctx.obj
    try:
        src = state.app().sources.add(name, kind, _settings(config_json, config_file), schedule, not disabled, watch)
    except SourceConfigError as exc:
        fail(str(exc))
    typer.echo(f"added {src['kind']} source {src['name']!r}; run `souverain sources sync {src['name']}`")


@sources_app.command("update")
def update(
    ctx: typer.Context,
    name: str,
    config_json: Annotated[str | None, typer.Option("--config-json")] = None,
    config_file: Annotated[Path | None, typer.Option("--config-file")] = None,
    schedule: Annotated[int | None, typer.Option("--schedule")] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
    watch: Annotated[bool | None, typer.Option("--watch/--no-watch")] = None,
) -> None:
    """Change a source's settings (replaced as a whole), schedule, or enabled/watch flags."""
    state: State = ctx.obj
    settings = _settings(config_json, config_file) if (config_json or config_file) else None
    try:
        state.app().sources.update(name, settings=settings, schedule_minutes=schedule, enabled=enabled, watch=watch)
    except (SourceConfigError, SourceNotFound) as exc:
        fail(str(exc))
    typer.echo(f"updated {name!r}")


@sources_app.command("list")
def list_(ctx: typer.Context, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every source with its state, counts, last error and next run."""
    state: State = ctx.obj
    rows = state.app().sources.all()
    if json_out:
        print_json(rows)
        return
    table = Table()
    for col in ("name", "kind", "state", "documents", "last sync", "next run", "last error"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["kind"], r["state"], str(r["items"].get("indexed", 0)),
                      (r["last_finished_at"] or "never")[:19], (r["next_run_at"] or "manual")[:19],
                      (r["last_error"] or "")[:80])
    Console().print(table)


@sources_app.command("show")
def show(ctx: typer.Context, name: str) -> None:
    """One source as JSON (settings hold credential references only)."""
    state: State = ctx.obj
    try:
        print_json(state.app().sources.get(name))
    except SourceNotFound as exc:
        fail(str(exc))


@sources_app.command("check")
def check(ctx: typer.Context, name: str) -> None:
    """Reach the source with its credentials, without syncing."""
    state: State = ctx.obj
    try:
        typer.echo(f"ok: {state.app().sources.check(name)}")
    except SourceNotFound as exc:
        fail(str(exc))
    except SourceError as exc:
        fail(f"{exc.reason}: {exc}", 1)


@sources_app.command("sync")
def sync(
    ctx: typer.Context,
    name: str,
    full: Annotated[bool, typer.Option("--full", help="Re-list everything (and retry failed items).")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Also remove items the source no longer lists.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Sync a source now; resumes an interrupted sync from its last checkpoint."""
    state: State = ctx.obj
    app_ = state.app()
    console = Console(stderr=True)

    def on_progress(p: SyncProgress, rep: FileReport | None) -> None:
        if quiet or json_out or rep is None or rep.status == "unchanged":
            return
        console.print(f"{p.done:>6} {rep.status:<9} {p.current[:60]} {rep.message[:60]}", highlight=False)

    try:
        result = app_.sources.sync(name, full=full, prune=prune, progress=on_progress)
    except (SourceNotFound, SyncBusyError) as exc:
        fail(str(exc))
    if json_out:
        print_json(result.as_dict())
    else:
        c = result.counts
        console.print(f"{result.status}: {c['added']} added, {c['updated']} updated, {c['deleted']} deleted, "
                      f"{c['permissions_updated']} permission changes, {c['unchanged']} unchanged, {c['failed']} failed "
                      f"in {result.seconds:.1f}s" + (f" — {result.error}" if result.error else ""))
    raise typer.Exit(0 if result.status == "done" else 1)


@sources_app.command("remove")
def remove(ctx: typer.Context, name: str, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Remove a source and every document it brought into the index."""
    state: State = ctx.obj
    if not yes:
        typer.confirm(f"remove {name!r} and all its documents from the index?", abort=True)
    try:
        n = state.app().sources.remove(name)
    except (SourceNotFound, SyncBusyError) as exc:
        fail(str(exc))
    typer.echo(f"removed {name!r} and {n} documents")
