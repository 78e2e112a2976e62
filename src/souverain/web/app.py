"""The FastAPI application factory.

Starting the app starts the background embedding worker, so documents uploaded or ingested by the
CLI get their vectors while the server runs; stopping the app stops it and closes the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from .. import __version__
from ..service import Souverain
from ..settings import Settings
from .api import ask, documents, health, search
from .page import INDEX_HTML


def create_app(settings: Settings | None = None, service: Souverain | None = None) -> FastAPI:
    settings = settings or Settings()
    svc = service or Souverain(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.worker.start()
        try:
            yield
        finally:
            svc.close()

    app = FastAPI(title="Souverain", version=__version__, lifespan=lifespan,
                  description="Search and ask your documents with checked citations.")
    app.state.souverain = svc
    for module in (health, search, ask, documents):
        app.include_router(module.router)

    @app.exception_handler(ValueError)
    async def _bad_request(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return INDEX_HTML

    return app
