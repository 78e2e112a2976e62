"""Browser tests: a real uvicorn server on 127.0.0.1 and Debian's chromium driven by Playwright.

Playwright's own browser download is never used: ``executable_path=/usr/bin/chromium`` (installed
by ``make test`` with apt). ``browser.launch`` gives every run a fresh temporary profile.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from souverain.settings import Settings
from souverain.web.app import create_app

CHROMIUM = os.environ.get("SOUVERAIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"

_MISSING = "" if shutil.which(CHROMIUM) or Path(CHROMIUM).exists() else f"{CHROMIUM} is missing: apt-get install -y chromium"
if os.environ.get("CI"):  # CI installs both through `make test`: a missing browser is a failure there, never a skip
    from playwright import sync_api
    if _MISSING:
        raise RuntimeError(_MISSING)
else:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' installs playwright")
    if _MISSING:
        pytest.skip(_MISSING + " (make test does it)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ADMIN = ("admin", "e2e-admin-Passw0rd!")  # created through the first-run screen by the `server` fixture


@dataclass
class Server:
    url: str
    port: int
    paths: list[str] = field(default_factory=list)  # every request path the server saw
    auth: bool = True  # False on a server without /auth routes
    http: httpx.Client = field(default_factory=httpx.Client)  # signed in as the administrator

    def client(self, username: str, password: str) -> httpx.Client:
        """An HTTP client with a session of its own (cookie + CSRF header), like the browser's."""
        c = httpx.Client(base_url=self.url, timeout=30)
        if self.auth:
            r = c.post("/auth/login", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    def wait_jobs_idle(self, timeout: float = 300) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            jobs = self.http.get("/api/v1/jobs", timeout=10).json()["jobs"]
            if not any(j["status"] in ("queued", "running") for j in jobs):
                return
            time.sleep(0.3)
        raise AssertionError("ingestion jobs did not finish")

    def wait_embedded(self, timeout: float = 300) -> None:
        deadline = time.time() + timeout
        while httpx.get(self.url + "/healthz", timeout=10).json()["chunks_awaiting_embeddings"] and time.time() < deadline:
            time.sleep(0.3)


class _Recorder:
    """ASGI wrapper that records request paths (to prove the browser never fetched /exfil)."""

    def __init__(self, app: Any, paths: list[str]) -> None:
        self.app, self.paths = app, paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def new_page(browser: Any, server: Server, locale: str = "en-US") -> Any:
    ctx = browser.new_context(locale=locale, viewport={"width": 1360, "height": 820}, base_url=server.url)
    ctx.set_default_timeout(30_000)
    pg = ctx.new_page()
    pg.console_errors = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))  # type: ignore[attr-defined]
    return pg


def real_errors(pg: Any) -> list[str]:
    """Console errors, less the network log lines of expected 401/404s (probing /auth/me and OIDC, a wrong password)."""
    return [e for e in pg.console_errors if not ("Failed to load resource" in e and re.search(r"\b40[14]\b", e))]


def sign_in(pg: Any, server: Server, username: str, password: str, path: str = "/") -> Any:
    """Opens `path` and signs in through the form (ids, not labels: works in every UI language)."""
    pg.goto(path)
    if server.auth:
        expect = sync_api.expect
        expect(pg.locator("#signin-form")).to_be_visible()
        pg.fill("#auth-username", username)
        pg.fill("#auth-password", password)
        pg.press("#auth-password", "Enter")
        expect(pg.locator("#auth-screen")).to_be_hidden()
        expect(pg.locator("#user-name")).not_to_be_empty()
    return pg


def _first_run_setup(browser: Any, server: Server) -> None:
    """The first administrator is created through the first-run screen, as a new installation would."""
    expect = sync_api.expect
    pg = new_page(browser, server)
    pg.goto("/")
    expect(pg.locator("#signin-form")).to_be_visible()
    expect(pg.locator("#auth-title")).to_have_text("Create the administrator")
    expect(pg.locator("#auth-ai-notice")).to_contain_text("AI system")
    pg.fill("#auth-username", ADMIN[0])
    pg.fill("#auth-password", ADMIN[1])
    pg.fill("#auth-password2", ADMIN[1] + "x")
    pg.click("#auth-submit")
    expect(pg.locator("#auth-error")).to_have_text("The two passwords differ.")
    pg.fill("#auth-password", ADMIN[1])
    pg.fill("#auth-password2", ADMIN[1])
    pg.click("#auth-submit")
    expect(pg.locator("#auth-screen")).to_be_hidden()
    expect(pg.locator("#user-role")).to_have_text("Administrator")
    expect(pg.locator("#tab-admin")).to_be_visible()
    assert not real_errors(pg), pg.console_errors
    pg.context.close()
    assert httpx.get(server.url + "/auth/setup").json() == {"needed": False}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Server]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("e2e-data")))
    port = _free_port()
    srv = Server(url=f"http://127.0.0.1:{port}", port=port)
    uv = uvicorn.Server(uvicorn.Config(_Recorder(app, srv.paths), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    for _ in range(400):
        try:
            if httpx.get(srv.url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    srv.auth = httpx.get(srv.url + "/auth/setup", timeout=10).status_code != 404
    if srv.auth:
        _first_run_setup(browser, srv)
    srv.http = srv.client(*ADMIN)
    yield srv
    srv.http.close()
    uv.should_exit = True
    thread.join(30)


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A browser context signed in as the administrator."""
    pg = sign_in(new_page(browser, server), server, *ADMIN)
    yield pg
    pg.context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@dataclass
class ServiceServer(Server):
    """A `Server` that also hands the test its `Souverain` service and data folder (for what only an
    operator can do outside the web API, such as linking a user to a source's identity)."""

    svc: Any = None
    data_dir: Path | None = None


@pytest.fixture(scope="module")
def service_server(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[ServiceServer]:
    """Like `server` (real uvicorn, administrator made through the first-run screen), plus `.svc`."""
    data_dir = tmp_path_factory.mktemp("e2e-data")
    app = create_app(Settings(data_dir=data_dir))
    port = _free_port()
    srv = ServiceServer(url=f"http://127.0.0.1:{port}", port=port, svc=app.state.souverain, data_dir=data_dir)
    uv = uvicorn.Server(uvicorn.Config(_Recorder(app, srv.paths), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    for _ in range(400):
        try:
            if httpx.get(srv.url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    srv.auth = httpx.get(srv.url + "/auth/setup", timeout=10).status_code != 404
    if srv.auth:
        _first_run_setup(browser, srv)
    srv.http = srv.client(*ADMIN)
    yield srv
    srv.http.close()
    uv.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def gateway_server(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[ServiceServer]:
    """Like `service_server`, with the model gateway set up as in production: a grid country (so answers get
    a CO2e figure) and a registry file adding an upstream model whose server is down (a French vLLM that
    nothing listens for), next to the bundled SmolLM2 and multilingual-e5-small."""
    data_dir = tmp_path_factory.mktemp("e2e-gateway")
    registry = data_dir / "models.json"
    registry.write_text(json.dumps({"models": [{
        "alias": "mistral-small-24b", "backend": "openai", "base_url": f"http://127.0.0.1:{_free_port()}/v1",
        "model": "mistral-small-24b", "country": "FR", "region": "Paris (PAR2)", "operator": "Example SAS",
        "total_params_b": 24, "active_params_b": 24, "quantisation": "bf16", "context_length": 32768,
        "languages": ["fr", "en", "de"], "licence": "Apache-2.0", "max_retries": 0,
        "description": "Mistral Small 3.1 24B Instruct, served by vLLM.",
        "intended_use": "Drafting and summarising internal documents.",
        "limitations": "Can state wrong facts with confidence; check figures, names and legal references."}]}))
    app = create_app(Settings(data_dir=data_dir, grid_country="FR", gateway_models_file=str(registry)))
    port = _free_port()
    srv = ServiceServer(url=f"http://127.0.0.1:{port}", port=port, svc=app.state.souverain, data_dir=data_dir)
    uv = uvicorn.Server(uvicorn.Config(_Recorder(app, srv.paths), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    for _ in range(400):
        try:
            if httpx.get(srv.url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    _first_run_setup(browser, srv)
    srv.http = srv.client(*ADMIN)
    yield srv
    srv.http.close()
    uv.should_exit = True
    thread.join(30)
