"""The FastAPI application factory.

Starting the app starts the background embedding worker, so documents uploaded or ingested by the
CLI get their vectors while the server runs, and the ingestion job worker (which first marks jobs
left unfinished by a dead process as failed/interrupted); stopping the app stops both and closes
the database. Every response passes through the security-headers middleware (web/security.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .. import __version__
from ..gateway.api import install_gateway
from ..llm.base import LLMError
from ..service import Souverain
from ..settings import Settings
from .api import admin, ask, auth, conversations, documents, health, identities, jobs, models, search, sources
from .api.ask import MODEL_FAILURE
from .api.usage import router as usage_router
from .security import SecurityHeaders
from .ui import install_ui

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, service: Souverain | None = None) -> FastAPI:
    settings = settings or Settings()
    svc = service or Souverain(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.worker.start()
        svc.jobs.start()
        svc.sources.start()
        try:
            yield
        finally:
            svc.close()

    app = FastAPI(title="Souverain", version=__version__, lifespan=lifespan,
                  description="Search and ask your documents with checked citations.")
    app.state.souverain = svc
    app.add_middleware(SecurityHeaders)
    for module in (health, auth, search, ask, documents, jobs, conversations, models, admin, sources):
        app.include_router(module.router)
    app.include_router(admin.me_router)
    app.include_router(identities.router)
    app.include_router(usage_router)
    install_gateway(app, svc)  # /v1 + admin model routes; builds the registry now: a refused model stops the start

    @app.exception_handler(LLMError)
    async def _model_failure(request: Request, exc: LLMError) -> JSONResponse:
        log.error("language model failure on %s: %s", request.url.path, exc)
        return JSONResponse(status_code=503, content={"detail": MODEL_FAILURE})

    @app.exception_handler(ValueError)
    async def _bad_request(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    install_ui(app)
    return app
