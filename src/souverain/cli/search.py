"""``souverain search QUERY``: hybrid search over the public documents."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ..documents import AccessFilter, SearchFilters
from .common import State, fail, print_json


def register(app: typer.Typer) -> None:
    @app.command()
    def search(
        ctx: typer.Context,
        query: Annotated[str, typer.Argument(help="What to look for, in any language.")],
        k: Annotated[int, typer.Option("-k", "--top", min=1, max=200)] = 10,
        mode: Annotated[str, typer.Option(help="hybrid | lexical | dense")] = "hybrid",
        language: Annotated[list[str] | None, typer.Option("--language", help="Only chunks in this language.")] = None,
        file_type: Annotated[list[str] | None, typer.Option("--type", help="Only this format (pdf, docx...).")] = None,
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Search the index; prints document, page, score and text for each hit."""
        if mode not in ("hybrid", "lexical", "dense"):
            fail("--mode must be hybrid, lexical or dense")
        state: State = ctx.obj
        filters = SearchFilters(languages=tuple(language or ()), formats=tuple(file_type or ()))
        try:
            result = state.app().search(query, AccessFilter.public(), filters, k, mode)
        except ValueError as exc:
            fail(str(exc))
            return
        if json_out:
            print_json([
                {"document": h.doc_uri, "title": h.title, "page": h.page, "score": round(h.score, 4),
                 "text": h.text, "char_start": h.char_start, "char_end": h.char_end,
                 "heading_path": list(h.heading_path), "language": h.language, "format": h.format}
                for h in result.hits
            ])
            return
        console = Console()
        if not result.hits:
            console.print("no results")
        for i, h in enumerate(result.hits, 1):
            console.print(f"[bold]{i}. {h.title}[/] p.{h.page}  [dim]{h.doc_uri}  score {h.score:.3f}[/]")
            console.print("   " + h.text[:300].replace("\n", " "), markup=False, highlight=False)
