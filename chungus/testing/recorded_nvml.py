"""NVML's answers replayed from a recording, so GPU inventory is tested on hosts without GPUs.

A recording (chungus/testing/recordings/nvml/, see its README) holds what each pynvml
function answered, under the function's name, in the shape pynvml returns it; an answer
`{"NVMLError": "<message>"}` replays that error instead. RecordedPynvml stands in for the
`pynvml` module, so RecordedNvml is inventory's own Pynvml, only asking a recording.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from chungus.fleet.inventory.hosts import Pynvml

RECORDINGS = Path(__file__).parent / "recordings" / "nvml"


class RecordedNvmlError(Exception):
    """pynvml.NVMLError as replayed: str() is the recorded message."""


class RecordedPynvml:
    """The pynvml functions inventory calls, answering from a recording."""

    NVMLError = RecordedNvmlError
    NVML_TEMPERATURE_GPU = 0  # pynvml's value

    def __init__(self, recording: dict[str, Any]) -> None:
        self.recording = recording
        self.initialised = False  # NVML refuses questions outside nvmlInit .. nvmlShutdown

    def nvmlInit(self) -> None:
        _answer(self.recording, "nvmlInit")
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self._check_initialised()
        self.initialised = False

    def nvmlDeviceGetCount(self) -> int:
        self._check_initialised()
        return int(_answer(self.recording, "nvmlDeviceGetCount"))

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, Any]:
        self._check_initialised()
        devices = self.recording.get("devices") or []
        if not 0 <= index < len(devices):
            raise RecordedNvmlError("Invalid Argument")  # what NVML answers for a bad index
        return dict(devices[index])

    def nvmlDeviceGetName(self, handle: dict[str, Any]) -> str:
        return str(self._device(handle, "nvmlDeviceGetName"))

    def nvmlDeviceGetUUID(self, handle: dict[str, Any]) -> str:
        return str(self._device(handle, "nvmlDeviceGetUUID"))

    def nvmlDeviceGetMemoryInfo(self, handle: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(**self._device(handle, "nvmlDeviceGetMemoryInfo"))

    def nvmlDeviceGetUtilizationRates(self, handle: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(**self._device(handle, "nvmlDeviceGetUtilizationRates"))

    def nvmlDeviceGetTemperature(self, handle: dict[str, Any], sensor: int) -> int:
        if sensor != self.NVML_TEMPERATURE_GPU:
            raise RecordedNvmlError("Invalid Argument")  # only the GPU sensor is recorded
        return int(self._device(handle, "nvmlDeviceGetTemperature"))

    def nvmlDeviceGetComputeRunningProcesses(self, handle: dict[str, Any]) -> list[SimpleNamespace]:
        found = self._device(handle, "nvmlDeviceGetComputeRunningProcesses")
        return [SimpleNamespace(**process) for process in found]

    def _device(self, handle: dict[str, Any], question: str) -> Any:
        self._check_initialised()
        return _answer(handle, question)

    def _check_initialised(self) -> None:
        if not self.initialised:
            raise RecordedNvmlError("Uninitialized")


class RecordedNvml(Pynvml):
    """Inventory's Pynvml seam, asking a recording instead of the driver."""

    def __init__(self, recording: dict[str, Any]) -> None:
        super().__init__(RecordedPynvml(recording))
        self.recording = recording

    @classmethod
    def named(cls, name: str) -> RecordedNvml:
        """The recording `recordings/nvml/<name>.json`."""
        return cls(json.loads((RECORDINGS / f"{name}.json").read_text()))

    @property
    def open(self) -> bool:
        """Between init and shutdown."""
        return bool(self.nvml.initialised)


def _answer(answers: dict[str, Any], question: str) -> Any:
    if question not in answers:
        raise KeyError(f"the recording has no answer to {question}")
    answer = answers[question]
    if isinstance(answer, dict) and "NVMLError" in answer:
        raise RecordedNvmlError(str(answer["NVMLError"]))
    return answer
