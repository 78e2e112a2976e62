"""Energy and CO2e of one LLM request, following the EcoLogits 0.9 LLM inference methodology.

Method: EcoLogits (GenAI Impact / mlco2), ``ecologits/impacts/llm.py`` as of release 0.9.x, the
methodology update of mlco2/ecologits PR #186 (Sept. 2025: energy and latency regressions fitted on
the ML.ENERGY leaderboard, H100 80 GB, requests batched by 64, 16-bit weights, GPU count rounded up to a
power of two). The usage phase only: embodied impacts (hardware manufacturing) and water are not
computed. In kWh, for ``T`` output tokens and ``P``/``P_total`` billion active/total parameters:

- one GPU: ``E_gpu = T * (alpha * exp(beta * B) * P + gamma) / 1000`` with ``alpha = 1.1665e-6``,
  ``beta = -0.011206``, ``gamma = 4.0529e-5`` (Wh per token, hence /1000) and the batch size ``B = 64``;
- generation latency: ``dT = T * (a * P + b * B + c)`` seconds (``a = 6.785e-4``, ``b = 3.119e-4``,
  ``c = 0.019474``), capped by the measured request latency when there is one;
- GPUs needed: ``memory = 1.2 * P_total * bits / 8`` GB, ``n = ceil(memory / 80 GB)`` rounded up to a power of
  two (bits = 16);
- server without GPUs: ``E_server = dT / 3600 * 1.2 kW * n / 8 GPUs installed / B``;
- request: ``E = PUE * (E_server + n * E_gpu)``; ``gCO2e = E * grid factor``.

Test vectors (no measured latency, PUE 1.2): a dense 24B model writing 400 tokens is 4.34267e-5 kWh
(1 GPU, 22.29 s modelled latency), a dense 123B model 3.65906e-4 kWh (295.2 GB -> 4 GPUs, 49.16 s).

The grid factor comes from the configured country (``GRID_FACTORS``: the EcoLogits 0.9 electricity mixes,
whose GWP column is Our World in Data's carbon intensity of electricity, mlco2/ecologits PR #181), or an
explicit operator override. There is no world-average fallback: with no country (or an unknown one) and
no override, the energy is still estimated and the CO2e is ``None`` with the note "grid country not
configured" (or "no grid factor for country XX").

Optionally the GPUs' own energy counters are read through NVML (``pynvml``, not a dependency): when it
imports and a GPU answers, ``NvmlMeter`` gives the GPU energy spent during a request, stored as
``measured_kwh`` beside the estimate (wired in gateway/metered.py, for requests served by in-process
models only). It is the whole GPUs' energy over that time (every concurrent
request included), without PUE or the rest of the server: a measurement to compare with, not a
replacement of the estimate. Anything NVML raises turns the measurement off (``None``), never the request.
"""

from __future__ import annotations

import importlib
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ECOLOGITS_VERSION = "0.9"
METHOD = f"EcoLogits {ECOLOGITS_VERSION} LLM inference methodology (usage phase)"

# ecologits/impacts/llm.py (0.9.x)
GPU_ENERGY_ALPHA = 1.1665273170451914e-06
GPU_ENERGY_BETA = -0.011205921025579175
GPU_ENERGY_GAMMA = 4.052928146734005e-05
LATENCY_ALPHA = 0.0006785088094353663
LATENCY_BETA = 0.0003119310311688259
LATENCY_GAMMA = 0.019473717579473387
MODEL_QUANTIZATION_BITS = 16
MEMORY_OVERHEAD = 1.2
GPU_MEMORY_GB = 80
SERVER_GPUS = 8
SERVER_POWER_KW = 1.2
BATCH_SIZE = 64

GRID_SOURCE = ("Our World in Data, carbon intensity of electricity (gCO2e/kWh), as shipped in EcoLogits 0.9 "
               "ecologits/data/electricity_mixes.csv (mlco2/ecologits PR #181, Sept. 2025; latest year available "
               "then)")
GRID_YEAR: int | None = None  # the EcoLogits data file does not state the year; see docs/metering.md

#: gCO2e per kWh for EU/EEA countries (plus CH and GB), ISO 3166 alpha-2. Croatia (HR) and Liechtenstein
#: (LI) are not in the source table and are therefore refused rather than guessed.
GRID_FACTORS: dict[str, float] = {
    "AT": 102.62, "BE": 117.58, "BG": 264.21, "CY": 512.24, "CZ": 413.86, "DE": 344.14, "DK": 143.30,
    "EE": 341.02, "ES": 146.15, "FI": 72.25, "FR": 44.18, "GR": 319.76, "HU": 182.82, "IE": 279.70,
    "IS": 28.33, "IT": 287.53, "LT": 139.34, "LU": 134.62, "LV": 136.22, "MT": 484.16, "NL": 253.31,
    "NO": 30.75, "PL": 614.98, "PT": 112.29, "RO": 245.55, "SE": 35.82, "SI": 227.65, "SK": 96.49,
    "CH": 36.60, "GB": 210.89,
}
NOT_CONFIGURED = "grid country not configured"


@dataclass(frozen=True)
class GridFactor:
    """The carbon intensity of the electricity, or ``None`` with a note saying why there is none."""

    g_per_kwh: float | None
    source: str
    country: str = ""
    year: int | None = None
    note: str = ""

    @classmethod
    def unavailable(cls, note: str = NOT_CONFIGURED, country: str = "") -> GridFactor:
        return cls(None, "", country, None, note)


def grid_factor(country: str = "", override_g_per_kwh: float | None = None, override_source: str = "") -> GridFactor:
    """The grid factor for the settings: an explicit override first, then the country table; never a guess."""
    code = (country or "").strip().upper()
    if override_g_per_kwh is not None:
        if not math.isfinite(override_g_per_kwh) or override_g_per_kwh < 0:
            raise ValueError(f"invalid grid intensity {override_g_per_kwh!r} gCO2e/kWh")
        return GridFactor(float(override_g_per_kwh), override_source.strip() or "configured by the operator "
                          "(SOUVERAIN_GRID_INTENSITY_G_PER_KWH)", code)
    if not code:
        return GridFactor.unavailable()
    if code not in GRID_FACTORS:
        return GridFactor.unavailable(f"{NOT_CONFIGURED}: no grid factor for country {code!r} in the table "
                                      "(set SOUVERAIN_GRID_INTENSITY_G_PER_KWH and _SOURCE)", code)
    return GridFactor(GRID_FACTORS[code], GRID_SOURCE, code, GRID_YEAR)


def grid_factor_from_settings(settings: Any) -> GridFactor:
    """``grid_factor`` from a ``Settings`` (grid_country, grid_intensity_g_per_kwh, grid_intensity_source)."""
    return grid_factor(getattr(settings, "grid_country", ""), getattr(settings, "grid_intensity_g_per_kwh", None),
                       getattr(settings, "grid_intensity_source", ""))


@dataclass(frozen=True)
class EnergyEstimate:
    kwh: float
    kwh_min: float
    kwh_max: float
    gco2e: float | None
    method: str
    grid_factor_g_per_kwh: float | None
    grid_factor_source: str
    pue: float
    measured_kwh: float | None = None
    note: str = ""
    gpus: int = 0
    latency_s: float = 0.0


# the methodology's steps ------------------------------------------------------------------------

def gpu_energy_kwh(active_params_b: float, output_tokens: float, batch_size: int = BATCH_SIZE) -> float:
    per_token_wh = GPU_ENERGY_ALPHA * math.exp(GPU_ENERGY_BETA * batch_size) * active_params_b + GPU_ENERGY_GAMMA
    return output_tokens * per_token_wh / 1000


def generation_latency_s(active_params_b: float, output_tokens: float, measured_s: float | None = None,
                         batch_size: int = BATCH_SIZE) -> float:
    modelled = output_tokens * (LATENCY_ALPHA * active_params_b + LATENCY_BETA * batch_size + LATENCY_GAMMA)
    if measured_s is not None and math.isfinite(measured_s) and 0 <= measured_s < modelled:
        return measured_s
    return modelled


def required_gpus(total_params_b: float, bits: int = MODEL_QUANTIZATION_BITS, gpu_memory_gb: float = GPU_MEMORY_GB) -> int:
    memory_gb = MEMORY_OVERHEAD * total_params_b * bits / 8
    n = max(1, math.ceil(memory_gb / gpu_memory_gb))
    return int(2 ** math.ceil(math.log2(n)))


def server_energy_kwh(latency_s: float, gpus: int, batch_size: int = BATCH_SIZE) -> float:
    return latency_s / 3600 * SERVER_POWER_KW * (gpus / SERVER_GPUS) / batch_size


def request_energy_kwh(active_params_b: float, total_params_b: float, output_tokens: int, latency_s: float | None,
                       pue: float) -> tuple[float, int, float]:
    """(kWh, GPUs, generation latency in s) for one parameter count."""
    gpus = required_gpus(total_params_b)
    latency = generation_latency_s(active_params_b, output_tokens, latency_s)
    kwh = pue * (server_energy_kwh(latency, gpus) + gpus * gpu_energy_kwh(active_params_b, output_tokens))
    return kwh, gpus, latency


def estimate(*, active_params_b: float, total_params_b: float, output_tokens: int, latency_s: float | None,
             pue: float, grid: GridFactor, active_params_range_b: tuple[float, float] | None = None,
             total_params_range_b: tuple[float, float] | None = None,
             measured_kwh: float | None = None) -> EnergyEstimate:
    """Energy (kWh) and CO2e (g) of one request that generated ``output_tokens``.

    ``latency_s`` is the measured generation time (an upper bound for the modelled latency, as in
    EcoLogits), or None to use the modelled one. ``*_range_b`` give a (min, max) parameter count for a
    model whose size is uncertain; ``kwh_min``/``kwh_max`` come from them (equal to ``kwh`` otherwise).
    """
    if active_params_b <= 0 or total_params_b <= 0 or active_params_b > total_params_b:
        raise ValueError(f"invalid parameter counts: active {active_params_b}B, total {total_params_b}B")
    if pue < 1:
        raise ValueError(f"a PUE below 1 ({pue}) is impossible")
    tokens = max(0, int(output_tokens))
    kwh, gpus, latency = request_energy_kwh(active_params_b, total_params_b, tokens, latency_s, pue)
    lo = hi = kwh
    if active_params_range_b or total_params_range_b:
        a_lo, a_hi = active_params_range_b or (active_params_b, active_params_b)
        t_lo, t_hi = total_params_range_b or (total_params_b, total_params_b)
        lo = request_energy_kwh(a_lo, max(t_lo, a_lo), tokens, latency_s, pue)[0]
        hi = request_energy_kwh(a_hi, max(t_hi, a_hi), tokens, latency_s, pue)[0]
        lo, hi = min(lo, hi, kwh), max(lo, hi, kwh)
    gco2e = kwh * grid.g_per_kwh if grid.g_per_kwh is not None else None
    latency_kind = "measured latency" if latency_s is not None and latency == latency_s else "modelled latency"
    method = (f"{METHOD}: batch {BATCH_SIZE}, {MODEL_QUANTIZATION_BITS}-bit weights, {gpus} x {GPU_MEMORY_GB} GB GPU, "
              f"{latency_kind}, PUE {pue:g}")
    return EnergyEstimate(kwh=kwh, kwh_min=lo, kwh_max=hi, gco2e=gco2e, method=method,
                          grid_factor_g_per_kwh=grid.g_per_kwh, grid_factor_source=grid.source, pue=pue,
                          measured_kwh=measured_kwh, note=grid.note, gpus=gpus, latency_s=latency)


# optional measurement through NVML ---------------------------------------------------------------

class NvmlMeter:
    """GPU energy counters through NVML, when ``pynvml`` imports and a GPU answers; otherwise inert.

    ``start()`` returns a reading (or None), ``stop(reading)`` the kWh spent by all GPUs since then
    (or None). ``nvmlDeviceGetTotalEnergyConsumption`` counts millijoules since the driver loaded
    (Volta and later).
    """

    def __init__(self, module: Any | None = None) -> None:
        self._lock = threading.Lock()
        self._nvml: Any | None = None
        self._handles: list[Any] = []
        self.error = ""
        try:
            nvml: Any = module if module is not None else importlib.import_module("pynvml")
            nvml.nvmlInit()
            count = int(nvml.nvmlDeviceGetCount())
            handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            for h in handles:
                nvml.nvmlDeviceGetTotalEnergyConsumption(h)  # unsupported on this GPU -> off
            if handles:
                self._nvml, self._handles = nvml, handles
            else:
                self.error = "no GPU"
        except Exception as exc:  # ImportError, NVMLError_*: measuring is optional
            self.error = f"{type(exc).__name__}: {exc}"

    @property
    def available(self) -> bool:
        return self._nvml is not None

    def _total_mj(self) -> float | None:
        nvml = self._nvml
        if nvml is None:
            return None
        try:
            with self._lock:
                return float(sum(nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self._handles))
        except Exception as exc:
            log.warning("NVML energy reading failed, measurement turned off: %s", exc)
            self._nvml = None
            self.error = str(exc)
            return None

    def start(self) -> float | None:
        return self._total_mj()

    def stop(self, started: float | None) -> float | None:
        if started is None:
            return None
        now = self._total_mj()
        if now is None or now < started:
            return None
        return (now - started) / 1000 / 3_600_000  # mJ -> J -> kWh


_meter: NvmlMeter | None = None
_meter_lock = threading.Lock()


def nvml_meter() -> NvmlMeter:
    """The process's NVML meter (created on first use; inert without pynvml or a GPU)."""
    global _meter
    with _meter_lock:
        if _meter is None:
            _meter = NvmlMeter()
        return _meter
