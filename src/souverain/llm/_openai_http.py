"""Small helpers shared by the OpenAI-compatible clients (chat here, embeddings in ``embeddings/``).

Secrets rule: an API key travels only in the ``Authorization`` header of the ``httpx.Client``. It is
never part of a URL, a repr or an error message; server messages are scrubbed of it as well, since
some servers echo the rejected key back ("invalid key sk-...").
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

import httpx

_MAX_MESSAGE = 500


def api_root(base_url: str) -> str:
    """``http://host:8000``, ``http://host:8000/`` and ``http://host:8000/v1`` all give ``.../v1``."""
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {redact_url(url)!r}")
    return url if url.endswith("/v1") else url + "/v1"


def redact_url(url: str) -> str:
    """Drop ``user:password@`` from a URL so it can be shown."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, "***@" + host, parts.path, parts.query, parts.fragment))


def scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def server_message(response: httpx.Response, secret: str | None) -> str:
    """The server's own error message from an OpenAI-style (or Ollama, FastAPI) error body."""
    try:
        text = response.read().decode("utf-8", errors="replace")
    except httpx.HTTPError:
        text = ""
    message = text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            message = error if isinstance(error, str) else json.dumps(error)
    message = " ".join(message.split())[:_MAX_MESSAGE] or response.reason_phrase
    return scrub(message, secret)


def describe_http_error(exc: httpx.HTTPError, secret: str | None) -> str:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
    return scrub(f"{kind}: {exc}", secret)
