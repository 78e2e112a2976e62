"""``souverain serve``: the HTTP API (and embedding worker) on 127.0.0.1:8000 by default."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import State, fail


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        ctx: typer.Context,
        host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
        port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    ) -> None:
        """Start the API server; embeddings still pending are computed in the background."""
        import uvicorn

        from ..gateway.models import RegistryError
        from ..service import Souverain
        from ..web.app import create_app

        state: State = ctx.obj
        settings = state.settings()
        svc = Souverain(settings)
        try:
            application = create_app(settings, svc)
        except RegistryError as exc:  # a model outside the residency policy, a broken registry file
            svc.close()
            fail(str(exc))
            return
        uvicorn.run(application, host=host or settings.host, port=port or settings.port, log_level="info")
