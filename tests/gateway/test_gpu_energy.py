"""The NVML wiring: requests served by an in-process model get the GPUs' measured energy beside the estimate.

No test machine has an NVIDIA GPU, so ``pynvml`` is the test double of fake_pynvml.py, injected through
``sys.modules``; everything else (the gateway, the accounting, the ledger, SQLite) is the real code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from souverain.gateway.backends import MeteredLLM
from souverain.gateway.energy import nvml_meter
from souverain.llm.base import ChatMessage, GenerationParams
from souverain.llm.fake import FakeLLM
from souverain.service import Souverain
from souverain.settings import Settings

from . import fake_pynvml
from .conftest import UPSTREAM_KEY, Upstream

SMOL = "smollm2-135m-instruct"


@pytest.fixture
def svc(tmp_path: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> Iterator[Souverain]:
    monkeypatch.setenv("SV_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    models = [{"alias": "think-up", "model": "think-model", "backend": "openai", "base_url": upstream.url,
               "api_key": "env:SV_TEST_UPSTREAM_KEY", "country": "FR", "total_params_b": 24}]
    (tmp_path / "models.json").write_text(json.dumps({"models": models}), encoding="utf-8")
    service = Souverain(Settings(data_dir=tmp_path / "data", gateway_models_file=str(tmp_path / "models.json"),
                                 grid_country="FR"))
    yield service
    service.close()


def test_an_in_process_request_is_measured_from_admission_to_settle(svc: Souverain,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = fake_pynvml.FakePynvmlModule()
    fake_pynvml.install(monkeypatch, gpus)
    entry = svc.gateway.registry.get(SMOL)
    assert entry is not None and entry.in_process
    metered = svc.gateway.admit(key_id=None, user_id=None, model=SMOL, prompt_tokens=3, max_tokens=5, kind="chat",
                                endpoint="/v1/chat/completions")
    assert metered.meter is nvml_meter() and metered.gpu_start is not None
    record_id = metered.settle("ok", prompt_tokens=3, completion_tokens=5, usage_exact=True, entry=entry)
    assert metered.energy is not None
    assert metered.energy.measured_kwh == pytest.approx(gpus.kwh_per_request)  # 2 GPUs x 1.8e6 mJ = 1 Wh
    assert metered.energy.kwh > 0  # the estimate is still there, beside the measurement
    (record,) = svc.gateway_accounting.records("id = ?", (record_id,))
    assert record["measured_kwh"] == pytest.approx(0.001) and record["energy_kwh"] == pytest.approx(metered.energy.kwh)


def test_upstream_models_are_not_measured(svc: Souverain, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = fake_pynvml.FakePynvmlModule()
    fake_pynvml.install(monkeypatch, gpus)
    metered = svc.gateway.admit(key_id=None, user_id=None, model="think-up", prompt_tokens=3, max_tokens=5,
                                kind="chat", endpoint="/v1/chat/completions")
    assert metered.meter is None and gpus.readings == 0  # no reading at all: the model runs elsewhere
    metered.settle("ok", prompt_tokens=3, completion_tokens=5, usage_exact=True, entry=svc.gateway.registry.get("think-up"))
    assert metered.energy is not None and metered.energy.measured_kwh is None


def test_an_in_process_admission_served_by_an_upstream_fallback_is_not_measured(
        svc: Souverain, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pynvml.install(monkeypatch, fake_pynvml.FakePynvmlModule())
    metered = svc.gateway.admit(key_id=None, user_id=None, model=SMOL, prompt_tokens=3, max_tokens=5, kind="chat",
                                endpoint="/v1/chat/completions")
    assert metered.gpu_start is not None
    metered.settle("ok", prompt_tokens=3, completion_tokens=5, usage_exact=True, entry=svc.gateway.registry.get("think-up"))
    assert metered.energy is not None and metered.energy.measured_kwh is None


def test_the_assistant_calls_on_the_bundled_model_are_measured(svc: Souverain, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = fake_pynvml.FakePynvmlModule(step_mj=900_000)
    fake_pynvml.install(monkeypatch, gpus)
    llm = MeteredLLM(FakeLLM(["one two three", "four five"], name=SMOL), svc.gateway, user_id=lambda: None)
    llm.complete([ChatMessage("user", "hello")], GenerationParams(max_tokens=10))
    assert "".join(llm.stream([ChatMessage("user", "hello")], GenerationParams(max_tokens=10))) == "four five"
    records = svc.gateway_accounting.records()
    assert [r["measured_kwh"] for r in records] == [pytest.approx(0.0005)] * 2


def test_without_pynvml_or_when_nvml_fails_nothing_is_measured_and_requests_go_on(
        svc: Souverain, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = svc.gateway.registry.get(SMOL)
    fake_pynvml.install(monkeypatch, None)  # import pynvml -> ImportError, as on this machine
    metered = svc.gateway.admit(key_id=None, user_id=None, model=SMOL, prompt_tokens=3, max_tokens=5, kind="chat",
                                endpoint="/v1/chat/completions")
    assert metered.meter is None and not nvml_meter().available
    metered.settle("ok", prompt_tokens=3, completion_tokens=5, usage_exact=True, entry=entry)
    assert metered.energy is not None and metered.energy.measured_kwh is None

    lost = fake_pynvml.FakePynvmlModule(fail_after=3)  # 2 readings at start-up, 1 at admission, then the GPU is lost
    fake_pynvml.install(monkeypatch, lost)
    metered = svc.gateway.admit(key_id=None, user_id=None, model=SMOL, prompt_tokens=3, max_tokens=5, kind="chat",
                                endpoint="/v1/chat/completions")
    assert metered.gpu_start is None  # the admission reading failed: the meter turned itself off
    record_id = metered.settle("ok", prompt_tokens=3, completion_tokens=5, usage_exact=True, entry=entry)
    assert record_id and metered.energy is not None and metered.energy.measured_kwh is None
    assert not nvml_meter().available and "GPU_IS_LOST" in nvml_meter().error
