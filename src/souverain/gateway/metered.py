"""Metering glue: one admitted request (``Metered``), the assistant's own model calls (``MeteredLLM``),
the GPU energy measurement, and how a settled request is reported (usage and energy JSON, headers).

Design facts:

- ``Gateway.admit`` reserves through G2's ``Accounting`` (gateway/accounting.py) and returns a ``Metered``;
  ``Metered.settle`` is called exactly once whatever happens (``ok``, ``error``, ``cancelled``) with the
  real counts, the latency and the time to first token, so a reservation never leaks. A second call is a
  no-op. Settling never raises: a ledger failure is logged, the answer still goes out.
- Energy: the EcoLogits estimate (gateway/energy.py) at settle. For a request admitted for an
  in-process model (llama.cpp) on a machine where ``pynvml`` imports and an NVIDIA GPU answers, the GPUs'
  energy counter is read at admission and again at settle (when the model that answered is in-process
  too) and the difference goes to the estimate as ``measured_kwh``, stored beside it. Without NVML the
  meter is inert (checked once per process) and ``measured_kwh`` is None.
- ``MeteredLLM`` puts the assistant's own model calls through the same ledger (``key_id`` None, the
  signed-in user from ``current_user_id``, endpoint ``assistant``); its counts are the model's tokenizer
  counts of the messages (``usage_exact`` False for streams).
- ``current_scope`` holds the ASGI scope of the web request being served (``api.CallerContext``), so the
  assistant's calls know their user without threading it through.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..llm.base import ChatMessage, Completion, GenerationParams
from . import errors
from .models import ModelEntry

if TYPE_CHECKING:
    from .backends import Gateway
    from .energy import EnergyEstimate, NvmlMeter

log = logging.getLogger(__name__)


#: the ASGI scope of the HTTP request being served (set by api.CallerContext), for the assistant's calls
current_scope: contextvars.ContextVar[MutableMapping[str, Any] | None] = contextvars.ContextVar(
    "souverain_gateway_scope", default=None)


def current_user_id() -> int | None:
    """The signed-in user of the current web request (its ``Principal``), or None (CLI, background)."""
    scope = current_scope.get()
    if scope is None:
        return None
    principal = (scope.get("state") or {}).get("principal")
    user = getattr(principal, "user", None)
    user_id = getattr(user, "id", None)
    return user_id if isinstance(user_id, int) else None


class _NullAccounting:
    """Used only when gateway/accounting.py is missing: admits everything, records nothing."""

    @dataclass
    class _Res:
        id: int
        key_id: int | None
        user_id: int | None
        team_id: int | None
        model: str
        reserved_tokens: int

    def admit(self, *, key_id: int | None, user_id: int | None, model: str, prompt_tokens: int, max_tokens: int,
              kind: str = "chat") -> Any:
        return self._Res(0, key_id, user_id, None, model, prompt_tokens + max_tokens)

    def settle(self, res: Any, **kwargs: Any) -> int:
        return 0


@dataclass
class Metered:
    """One admitted request: settle exactly once, whatever happens."""

    gateway: Gateway
    reservation: Any
    endpoint: str
    started: float = field(default_factory=time.perf_counter)
    record_id: int | None = None
    energy: EnergyEstimate | None = None
    settled: bool = False
    meter: NvmlMeter | None = None  # the GPU energy meter, for in-process models on a machine with NVML
    gpu_start: float | None = None  # its reading at admission

    def settle(self, status: str, *, prompt_tokens: int, completion_tokens: int, usage_exact: bool,
               entry: ModelEntry | None, ttft_s: float | None = None) -> int | None:
        if self.settled:
            return self.record_id
        self.settled = True
        latency_s = time.perf_counter() - self.started
        measured = None
        if self.meter is not None and entry is not None and entry.in_process:
            measured = self.meter.stop(self.gpu_start)
        self.energy = self.gateway.estimate_energy(entry, completion_tokens, latency_s, measured_kwh=measured)
        try:
            self.record_id = self.gateway.accounting.settle(
                self.reservation, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, status=status,
                latency_ms=latency_s * 1000, ttft_ms=ttft_s * 1000 if ttft_s is not None else None,
                endpoint=self.endpoint, usage_exact=usage_exact, energy=self.energy)
        except Exception:
            log.exception("could not settle the usage of reservation %s", getattr(self.reservation, "id", "?"))
        return self.record_id


def gpu_meter(entry: ModelEntry | None) -> NvmlMeter | None:
    """The process's NVML meter when ``entry`` runs in this process and the meter measures, else None."""
    if entry is None or not entry.in_process or entry.embeddings:
        return None
    from .energy import nvml_meter

    meter = nvml_meter()
    return meter if meter.available else None


# reporting -------------------------------------------------------------------------------------------

def energy_json(energy: Any) -> dict[str, Any] | None:
    if energy is None:
        return None
    return {"wh": energy.kwh * 1000, "kwh": energy.kwh, "kwh_min": energy.kwh_min, "kwh_max": energy.kwh_max,
            "gco2e": energy.gco2e, "grid_factor_g_per_kwh": energy.grid_factor_g_per_kwh,
            "grid_factor_source": energy.grid_factor_source or None, "pue": energy.pue, "method": energy.method,
            "note": getattr(energy, "note", "") or None, "measured_kwh": energy.measured_kwh}


def energy_headers(energy: Any) -> dict[str, str]:
    if energy is None:
        return {}
    headers = {"X-Souverain-Energy-Wh": f"{energy.kwh * 1000:.6g}"}
    if energy.gco2e is not None:
        headers["X-Souverain-CO2e-g"] = f"{energy.gco2e:.6g}"
    return headers


def usage_json(prompt: int, completion: int, metered: Metered, exact: bool) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "energy": energy_json(metered.energy), "exact": exact, "record_id": metered.record_id}


# the assistant's own calls ---------------------------------------------------------------------------

class AssistantModelRefused(ValueError):
    """The assistant's model is suspended, or a limit refuses the call (shown to the user)."""


class MeteredLLM:
    """An ``LLM`` whose calls are admitted and settled in the gateway's ledger (``key_id`` None)."""

    def __init__(self, llm: Any, gateway: Gateway, user_id: Callable[[], int | None] = current_user_id) -> None:
        self.inner = llm
        self.gateway = gateway
        self.name = llm.name
        self.context_window = llm.context_window
        self._user_id = user_id
        self.entry = gateway.registry.for_llm_name(llm.name)
        self.model = self.entry.alias if self.entry is not None else llm.name

    def __repr__(self) -> str:
        return f"MeteredLLM({self.inner!r})"

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))

    def _admit(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Metered:
        if self.entry is not None:
            suspension = self.gateway.suspensions.active(self.entry.alias)
            if suspension is not None:
                raise AssistantModelRefused(errors.model_suspended(self.entry.alias, suspension.reason).message)
        prompt = sum(self.count_tokens(m.content) + 4 for m in messages)
        try:
            return self.gateway.admit(key_id=None, user_id=self._user_id(), model=self.model, prompt_tokens=prompt,
                                      max_tokens=params.max_tokens, kind="chat", endpoint="assistant")
        except errors.GatewayError as exc:
            raise AssistantModelRefused(exc.message) from None

    @staticmethod
    def _remember(scope: MutableMapping[str, Any] | None, record_id: int | None) -> None:
        """Note the usage record on the web request it belongs to (``state.souverain_usage_ids``), so the
        answer can show exactly its own energy figure, whatever else the same user runs meanwhile."""
        if scope is not None and record_id:
            state = scope.setdefault("state", {})
            state.setdefault("souverain_usage_ids", []).append(record_id)

    def complete(self, messages: Sequence[ChatMessage], params: GenerationParams | None = None) -> Completion:
        params = params or GenerationParams()
        scope = current_scope.get()
        metered = self._admit(messages, params)
        try:
            c = self.inner.complete(messages, params)
        except BaseException:
            metered.settle("error", prompt_tokens=sum(self.count_tokens(m.content) for m in messages),
                           completion_tokens=0, usage_exact=False, entry=self.entry)
            raise
        self._remember(scope, metered.settle("ok", prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens,
                                             usage_exact=c.usage_exact, entry=self.entry))
        return c

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams | None = None) -> Iterator[str]:
        params = params or GenerationParams()
        metered = self._admit(messages, params)
        try:
            inner = self.inner.stream(messages, params)
        except BaseException:
            metered.settle("error", prompt_tokens=0, completion_tokens=0, usage_exact=False, entry=self.entry)
            raise
        return self._metered_stream(messages, inner, metered, current_scope.get())

    def _metered_stream(self, messages: Sequence[ChatMessage], inner: Iterator[str], metered: Metered,
                        scope: MutableMapping[str, Any] | None = None) -> Iterator[str]:
        parts: list[str] = []
        status = "error"
        ttft: float | None = None
        try:
            for delta in inner:
                if ttft is None:
                    ttft = time.perf_counter() - metered.started
                parts.append(delta)
                yield delta
            status = "ok"
        except GeneratorExit:
            status = "cancelled"
            raise
        finally:
            close = getattr(inner, "close", None)
            if close is not None:
                close()
            self._remember(scope, metered.settle(
                status, prompt_tokens=sum(self.count_tokens(m.content) + 4 for m in messages),
                completion_tokens=self.count_tokens("".join(parts)), usage_exact=False, entry=self.entry, ttft_s=ttft))
