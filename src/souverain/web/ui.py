"""The browser app: one HTML shell at ``/`` plus hand-written static JS/CSS under ``/static``.

Design facts:

- Every asset is served by Souverain itself (no CDN, no external fonts, no build step). The shell
  has no inline script or style, so it runs under ``Content-Security-Policy: default-src 'self'``;
  the route sets that header itself too (the policy of web/security.py), so the shell is protected
  even when mounted without the middleware.
- The interface language follows the browser: ``Accept-Language`` picks a catalog from
  ``web/i18n/*.json`` (``?lang=xx`` overrides it). Static labels are rendered into the shell
  (no flash of English), and the whole catalog travels in a JSON data block (not executable)
  for the labels the scripts create.
- Model output and document text never reach the shell: the scripts fetch them from the API and
  render them as DOM text nodes through ``static/markdown.js``.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from .security import CSP

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
I18N_DIR = HERE / "i18n"
TEMPLATE = HERE / "templates" / "index.html"
DEFAULT_LANG = "en"

router = APIRouter(include_in_schema=False)
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


@lru_cache(maxsize=1)
def catalogs() -> dict[str, dict[str, str]]:
    """All message catalogs, missing keys filled from English so no label is ever blank."""
    cats = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(I18N_DIR.glob("*.json"))}
    base = cats[DEFAULT_LANG]
    return {lang: {**base, **cat} for lang, cat in cats.items()}


def negotiate(accept_language: str, override: str | None = None) -> str:
    """The best supported language for an ``Accept-Language`` header (``fr-FR,fr;q=0.9,en;q=0.5``)."""
    supported = catalogs()
    if override and override.lower()[:2] in supported:
        return override.lower()[:2]
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        m = re.search(r"q=([0-9.]+)", params)
        if m:
            try:
                q = float(m.group(1))
            except ValueError:
                q = 0.0
        if tag:
            ranked.append((-q, i, tag.strip().lower()[:2]))
    for _, _, lang in sorted(ranked):
        if lang in supported:
            return lang
    return DEFAULT_LANG


@lru_cache(maxsize=1)
def _template() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


def render_shell(lang: str) -> str:
    cat = catalogs()[lang]
    # The JSON data block must not be able to close its <script> element.
    data = json.dumps({"lang": lang, "messages": cat}, ensure_ascii=False).replace("<", "\\u003c")

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key == "lang":
            return lang
        if key == "catalog":
            return data
        return html.escape(cat.get(key, key), quote=True)

    return _PLACEHOLDER.sub(sub, _template())


@router.get("/", response_class=HTMLResponse)
def index(request: Request, lang: str | None = None) -> HTMLResponse:
    chosen = negotiate(request.headers.get("accept-language", ""), lang)
    return HTMLResponse(render_shell(chosen), headers={
        "Content-Security-Policy": CSP, "Content-Language": chosen, "Vary": "Accept-Language",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})


def install_ui(app: FastAPI) -> None:
    """Serve the shell at ``/`` and the static assets at ``/static``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
