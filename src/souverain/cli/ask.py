"""``souverain ask QUESTION``: an answer with checked citations, or a plain "not found"."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ..documents import AccessFilter
from .common import State, fail, print_json


def register(app: typer.Typer) -> None:
    @app.command()
    def ask(
        ctx: typer.Context,
        question: Annotated[str, typer.Argument(help="A question, in any language.")],
        mode: Annotated[str | None, typer.Option(help="extractive | generative (default: from settings)")] = None,
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Answer from the documents, citing document, page and quote for every claim."""
        if mode not in (None, "extractive", "generative"):
            fail("--mode must be extractive or generative")
        state: State = ctx.obj
        try:
            answer = state.app().ask(question, AccessFilter.public(), mode=mode)
        except ValueError as exc:
            fail(str(exc))
            return
        if json_out:
            d = answer.as_dict()
            d["chunks"] = [{"document": h["doc_uri"], "title": h["title"], "page": h["page"], "score": h["score"],
                            "text": h["text"]} for h in d["chunks"]]
            print_json(d)
            return
        console = Console()
        console.print(answer.answer, markup=False, highlight=False)
        for c in answer.citations:
            mark = "" if c.supported else " [yellow](unsupported)[/]"
            console.print(f"[bold][{c.n}][/] {c.title}, p.{c.page}{mark} [dim]{c.document}[/]")
            console.print(f"    “{c.quote[:300]}”", markup=False, highlight=False)
        if answer.truncated_context:
            console.print(f"[yellow]note: {answer.dropped_passages} passages did not fit the model's context[/]")
        for s in answer.unsupported_sentences:
            console.print(f"[yellow]unsupported by its citation:[/] {s}")
