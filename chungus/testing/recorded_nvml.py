"""NVML's answers replayed from a recording, so GPU inventory is tested on hosts without GPUs.

A recording (chungus/testing/recordings/nvml/, see its README) holds what each pynvml
function answered, under the function's name, in the shape pynvml returns it; an answer
`{"NVMLError": "<message>"}` replays that error instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chungus.fleet.inventory import MemoryInfo, NvmlError

RECORDINGS = Path(__file__).parent / "recordings" / "nvml"


class RecordedNvml:
    """The `Nvml` seam answered from a recording instead of a driver."""

    def __init__(self, recording: dict[str, Any]) -> None:
        self.recording = recording
        self.open = False  # between init and shutdown, as NVML wants its callers

    @classmethod
    def named(cls, name: str) -> RecordedNvml:
        """The recording `recordings/nvml/<name>.json`."""
        return cls(json.loads((RECORDINGS / f"{name}.json").read_text()))

    def init(self) -> None:
        _answer(self.recording, "nvmlInit")
        self.open = True

    def shutdown(self) -> None:
        self._check_open()
        self.open = False

    def device_count(self) -> int:
        self._check_open()
        return int(_answer(self.recording, "nvmlDeviceGetCount"))

    def name(self, index: int) -> str:
        return str(self._device(index, "nvmlDeviceGetName"))

    def uuid(self, index: int) -> str:
        return str(self._device(index, "nvmlDeviceGetUUID"))

    def memory_info(self, index: int) -> MemoryInfo:
        memory = self._device(index, "nvmlDeviceGetMemoryInfo")
        return MemoryInfo(int(memory["total"]), int(memory["used"]))

    def utilization(self, index: int) -> int:
        return int(self._device(index, "nvmlDeviceGetUtilizationRates")["gpu"])

    def temperature(self, index: int) -> int:
        return int(self._device(index, "nvmlDeviceGetTemperature"))

    def running_processes(self, index: int) -> list[int]:
        found = self._device(index, "nvmlDeviceGetComputeRunningProcesses")
        return [int(process["pid"]) for process in found]

    def _device(self, index: int, question: str) -> Any:
        self._check_open()
        devices = self.recording.get("devices") or []
        if not 0 <= index < len(devices):
            raise NvmlError("Invalid Argument")  # what NVML answers for a missing index
        return _answer(devices[index], question)

    def _check_open(self) -> None:
        if not self.open:
            raise NvmlError("Uninitialized")  # NVML refuses questions before nvmlInit


def _answer(answers: dict[str, Any], question: str) -> Any:
    if question not in answers:
        raise KeyError(f"the recording has no answer to {question}")
    answer = answers[question]
    if isinstance(answer, dict) and "NVMLError" in answer:
        raise NvmlError(str(answer["NVMLError"]))
    return answer
