"""EcoLogits 0.9 energy estimate: the required test vectors, latency capping, ranges, grid factors, NVML."""

from __future__ import annotations

import math
from typing import Any

import pytest

from souverain.gateway import energy
from souverain.gateway.energy import GridFactor, NvmlMeter, estimate, grid_factor, grid_factor_from_settings
from souverain.settings import Settings

FR = grid_factor("FR")
REL = 1e-4


@pytest.mark.parametrize(("params_b", "expected_kwh", "gpus", "latency_s"), [
    (24, 4.34267e-5, 1, 22.2886),    # 1.2 * 24B * 16 bit / 8 = 57.6 GB -> 1 x 80 GB
    (123, 3.65906e-4, 4, 49.1576),   # 295.2 GB -> ceil(3.69) = 4 GPUs (already a power of two)
])
def test_required_vectors_dense_models_400_tokens_pue_1_2(params_b: float, expected_kwh: float, gpus: int,
                                                          latency_s: float) -> None:
    e = estimate(active_params_b=params_b, total_params_b=params_b, output_tokens=400, latency_s=None, pue=1.2, grid=FR)
    assert e.kwh == pytest.approx(expected_kwh, rel=REL)
    assert e.kwh_min == e.kwh_max == e.kwh
    assert e.gpus == gpus and e.latency_s == pytest.approx(latency_s, rel=REL)
    assert e.pue == 1.2 and "EcoLogits 0.9" in e.method and "modelled latency" in e.method
    assert e.gco2e == pytest.approx(e.kwh * 44.18) and e.grid_factor_g_per_kwh == 44.18
    assert "Our World in Data" in e.grid_factor_source and e.note == ""


def test_the_formula_step_by_step() -> None:
    """The same number from the documented formula, written out independently."""
    p, t, b = 24.0, 400, 64
    gpu_kwh = t * (1.1665273170451914e-06 * math.exp(-0.011205921025579175 * b) * p + 4.052928146734005e-05) / 1000
    latency = t * (0.0006785088094353663 * p + 0.0003119310311688259 * b + 0.019473717579473387)
    server_kwh = latency / 3600 * 1.2 * (1 / 8) / b
    assert 1.2 * (server_kwh + 1 * gpu_kwh) == pytest.approx(4.34267e-5, rel=REL)


def test_pue_scales_linearly_and_below_one_is_refused() -> None:
    base = estimate(active_params_b=24, total_params_b=24, output_tokens=400, latency_s=None, pue=1.0, grid=FR)
    assert estimate(active_params_b=24, total_params_b=24, output_tokens=400, latency_s=None, pue=1.5,
                    grid=FR).kwh == pytest.approx(base.kwh * 1.5)
    with pytest.raises(ValueError):
        estimate(active_params_b=24, total_params_b=24, output_tokens=400, latency_s=None, pue=0.9, grid=FR)
    with pytest.raises(ValueError):
        estimate(active_params_b=30, total_params_b=24, output_tokens=400, latency_s=None, pue=1.2, grid=FR)


def test_measured_latency_caps_the_modelled_one() -> None:
    modelled = estimate(active_params_b=24, total_params_b=24, output_tokens=400, latency_s=None, pue=1.2, grid=FR)
    fast = estimate(active_params_b=24, total_params_b=24, output_tokens=400, latency_s=2.0, pue=1.2, grid=FR)
    slow = estimate(active_params_b=24, total_params_b=24, output_tokens=400, latency_s=100.0, pue=1.2, grid=FR)
    assert fast.latency_s == 2.0 and "measured latency" in fast.method and fast.kwh < modelled.kwh
    assert slow.latency_s == pytest.approx(modelled.latency_s) and slow.kwh == pytest.approx(modelled.kwh)


def test_moe_uses_active_parameters_for_energy_and_total_for_gpus() -> None:
    moe = estimate(active_params_b=13, total_params_b=47, output_tokens=100, latency_s=None, pue=1.2, grid=FR)
    dense13 = estimate(active_params_b=13, total_params_b=13, output_tokens=100, latency_s=None, pue=1.2, grid=FR)
    assert moe.gpus == 2 and dense13.gpus == 1 and moe.kwh > dense13.kwh
    assert energy.required_gpus(440) == 16  # 1056 GB -> 13.2 -> 14 -> rounded up to a power of two


def test_zero_output_tokens_is_zero_energy_and_the_bundled_model_is_tiny() -> None:
    assert estimate(active_params_b=24, total_params_b=24, output_tokens=0, latency_s=None, pue=1.2, grid=FR).kwh == 0
    smol = estimate(active_params_b=0.135, total_params_b=0.135, output_tokens=1, latency_s=0.01, pue=1.2, grid=FR)
    assert 0 < smol.kwh < 1e-7 and smol.gpus == 1


def test_parameter_ranges_give_min_and_max() -> None:
    e = estimate(active_params_b=60, total_params_b=300, output_tokens=400, latency_s=None, pue=1.2, grid=FR,
                 active_params_range_b=(30, 90), total_params_range_b=(200, 400))
    assert e.kwh_min < e.kwh < e.kwh_max


def test_grid_factors_come_from_the_table_or_an_override_never_a_guess() -> None:
    assert grid_factor("fr").g_per_kwh == 44.18 and grid_factor(" de ").g_per_kwh == 344.14
    assert grid_factor("PL").g_per_kwh == 614.98 and grid_factor("SE").country == "SE"
    for country in ("", "  "):
        g = grid_factor(country)
        assert g.g_per_kwh is None and g.note == "grid country not configured"
    unknown = grid_factor("HR")  # Croatia is not in the source table: refused, not invented
    assert unknown.g_per_kwh is None and "grid country not configured" in unknown.note and "'HR'" in unknown.note
    assert grid_factor("US").g_per_kwh is None  # the table is EU/EEA (+CH, GB) only
    override = grid_factor("HR", 150.0, "HROTE 2024 residual mix")
    assert override.g_per_kwh == 150.0 and override.source == "HROTE 2024 residual mix"
    assert grid_factor("", 20.0).source.startswith("configured by the operator")
    with pytest.raises(ValueError):
        grid_factor("FR", -1.0)


def test_without_a_grid_factor_energy_is_recorded_and_co2e_is_null() -> None:
    e = estimate(active_params_b=24, total_params_b=24, output_tokens=400, latency_s=None, pue=1.2,
                 grid=GridFactor.unavailable())
    assert e.kwh == pytest.approx(4.34267e-5, rel=REL)
    assert e.gco2e is None and e.grid_factor_g_per_kwh is None and e.note == "grid country not configured"


def test_settings_select_the_grid(tmp_path: Any) -> None:
    assert grid_factor_from_settings(Settings(data_dir=tmp_path)).g_per_kwh is None
    assert Settings(data_dir=tmp_path).datacenter_pue == 1.2
    assert grid_factor_from_settings(Settings(data_dir=tmp_path, grid_country="FR")).g_per_kwh == 44.18
    s = Settings(data_dir=tmp_path, grid_country="FR", grid_intensity_g_per_kwh=30.5, grid_intensity_source="RTE eco2mix 2024")
    assert grid_factor_from_settings(s) == GridFactor(30.5, "RTE eco2mix 2024", "FR")


class FakeNvml:
    """Two GPUs whose counters (mJ) advance by 1.8e6 mJ (0.5 Wh) per reading."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.readings = 0
        self.fail_after = fail_after

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        self.readings += 1
        if self.fail_after is not None and self.readings > self.fail_after:
            raise RuntimeError("NVML_ERROR_GPU_IS_LOST")
        return 1_000_000 + self.readings * 900_000


def test_nvml_meter_measures_with_a_gpu_and_is_inert_without() -> None:
    meter = NvmlMeter(FakeNvml())
    assert meter.available
    start = meter.start()
    kwh = meter.stop(start)
    assert kwh is not None and kwh == pytest.approx((2 * 900_000 * 2) / 1000 / 3_600_000)
    broken = NvmlMeter(FakeNvml(fail_after=3))
    started = broken.start()
    assert broken.stop(started) is None and not broken.available and "GPU_IS_LOST" in broken.error
    assert broken.stop(broken.start()) is None
    none = NvmlMeter(type("NoGPU", (), {"nvmlInit": lambda self: None, "nvmlDeviceGetCount": lambda self: 0})())
    assert not none.available and none.stop(none.start()) is None


def test_without_pynvml_the_meter_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    meter = NvmlMeter()
    assert not meter.available and "Error" in meter.error
    assert meter.start() is None and meter.stop(None) is None
