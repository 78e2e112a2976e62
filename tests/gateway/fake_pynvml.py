"""A test double for NVIDIA's ``pynvml`` package (the NVML bindings), injected through ``sys.modules``.

The real package only works on a machine with an NVIDIA driver and GPU, which the test machines do not
have; this module stands in for that hardware library, not for any of Souverain's code. It has the four
functions ``gateway/energy.py``'s ``NvmlMeter`` calls, for ``gpus`` GPUs whose total-energy counters
(millijoules since the driver loaded) advance by ``step_mj`` on every reading, so a start/stop pair of
readings always measures ``gpus * step_mj`` mJ. ``fail_after`` makes readings past that count raise,
like a GPU that fell off the bus.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType

import pytest

from souverain.gateway import energy

MJ_PER_KWH = 3_600_000_000


class FakePynvmlModule(ModuleType):
    def __init__(self, gpus: int = 2, step_mj: int = 1_800_000, fail_after: int | None = None) -> None:
        super().__init__("pynvml")
        self.gpus = gpus
        self.step_mj = step_mj
        self.fail_after = fail_after
        self.counters = [10_000_000 * (i + 1) for i in range(gpus)]
        self.readings = 0
        self._lock = threading.Lock()

    @property
    def kwh_per_request(self) -> float:
        """What one admission-to-settle measurement reads: every GPU advanced by one step."""
        return self.gpus * self.step_mj / MJ_PER_KWH

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return self.gpus

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        with self._lock:
            self.readings += 1
            if self.fail_after is not None and self.readings > self.fail_after:
                raise RuntimeError("NVML_ERROR_GPU_IS_LOST")
            value = self.counters[handle]
            self.counters[handle] += self.step_mj
            return value


def install(monkeypatch: pytest.MonkeyPatch, module: ModuleType | None) -> None:
    """Make ``import pynvml`` give ``module`` (None: an ImportError) and drop the process's cached meter."""
    monkeypatch.setitem(sys.modules, "pynvml", module)
    monkeypatch.setattr(energy, "_meter", None)
