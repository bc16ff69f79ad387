"""What a host has: CPUs, memory and NVIDIA GPUs (through NVML), or a declared inventory.

A host without NVIDIA GPUs or without the driver reports none and its CPU and
memory only. What inventory asks NVML goes through a small seam, `Nvml`: `Pynvml`
asks the driver (the default); tests replay recorded answers through the same seam.

Declared inventories (simulated GPUs) serve tests and capacity planning: a JSON file
named by CHUNGUS_INVENTORY, e.g.
`{"nodes": [{"name": "gpu-01", "gpus": [{"name": "H100", "memory_mb": 81559}] * 8}]}`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import psutil

from chungus.fleet.states import NodeSource

logger = logging.getLogger("chungus.fleet")
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class GpuInfo:
    index: int
    name: str
    memory_total_mb: int
    memory_used_mb: int = 0
    utilization_pct: int | None = None
    temperature_c: int | None = None
    uuid: str = ""
    processes: int | None = None  # compute processes on it (engines, other jobs), if known


@dataclass(frozen=True, slots=True)
class HostInfo:
    name: str
    cpus: int
    memory_total_mb: int
    memory_used_mb: int
    gpus: tuple[GpuInfo, ...] = field(default_factory=tuple)
    source: NodeSource = NodeSource.LOCAL


class NvmlError(Exception):
    """NVML cannot answer: no library or driver on this host, or not supported by this GPU."""


class MemoryInfo(NamedTuple):
    total: int  # bytes
    used: int  # bytes


class Nvml(Protocol):
    """What inventory asks NVML; each question raises NvmlError when NVML cannot answer."""

    def init(self) -> None: ...
    def shutdown(self) -> None: ...
    def device_count(self) -> int: ...
    def name(self, index: int) -> str: ...
    def uuid(self, index: int) -> str: ...
    def memory_info(self, index: int) -> MemoryInfo: ...
    def utilization(self, index: int) -> int: ...
    def temperature(self, index: int) -> int: ...
    def running_processes(self, index: int) -> list[int]: ...


class Pynvml:
    """NVML through nvidia-ml-py's `pynvml` module (the default), or through a stand-in for
    that module (tests replay recorded answers with chungus.testing.recorded_nvml)."""

    def __init__(self, module: Any = None) -> None:
        self.nvml = module
        self.handles: dict[int, Any] = {}

    def init(self) -> None:
        if self.nvml is None:
            try:
                import pynvml
            except ImportError as exc:
                raise NvmlError(str(exc)) from None
            self.nvml = pynvml
        self._ask(self.nvml.nvmlInit)

    def shutdown(self) -> None:
        self.handles.clear()
        self._ask(self.nvml.nvmlShutdown)

    def device_count(self) -> int:
        return int(self._ask(self.nvml.nvmlDeviceGetCount))

    def name(self, index: int) -> str:
        name = self._ask(self.nvml.nvmlDeviceGetName, self._handle(index))
        return name.decode() if isinstance(name, bytes) else str(name)  # older pynvml: bytes

    def uuid(self, index: int) -> str:
        return str(self._ask(self.nvml.nvmlDeviceGetUUID, self._handle(index)))

    def memory_info(self, index: int) -> MemoryInfo:
        memory = self._ask(self.nvml.nvmlDeviceGetMemoryInfo, self._handle(index))
        return MemoryInfo(int(memory.total), int(memory.used))

    def utilization(self, index: int) -> int:
        return int(self._ask(self.nvml.nvmlDeviceGetUtilizationRates, self._handle(index)).gpu)

    def temperature(self, index: int) -> int:
        sensor = self.nvml.NVML_TEMPERATURE_GPU
        return int(self._ask(self.nvml.nvmlDeviceGetTemperature, self._handle(index), sensor))

    def running_processes(self, index: int) -> list[int]:
        found = self._ask(self.nvml.nvmlDeviceGetComputeRunningProcesses, self._handle(index))
        return [int(process.pid) for process in found]

    def _handle(self, index: int) -> Any:
        if index not in self.handles:
            self.handles[index] = self._ask(self.nvml.nvmlDeviceGetHandleByIndex, index)
        return self.handles[index]

    def _ask(self, question: Any, *args: Any) -> Any:
        try:
            return question(*args)
        except self.nvml.NVMLError as exc:
            raise NvmlError(str(exc)) from exc


def read_gpus(nvml: Nvml | None = None) -> tuple[GpuInfo, ...]:
    """This host's NVIDIA GPUs through NVML; none when there is no driver or no GPU."""
    nvml = nvml or Pynvml()
    try:
        nvml.init()
    except NvmlError:
        return ()  # no NVIDIA driver here: a CPU-only host
    try:
        return tuple(_gpu(nvml, index) for index in range(nvml.device_count()))
    except NvmlError as exc:
        logger.warning("reading GPUs through NVML failed: %s", exc)
        return ()
    finally:
        nvml.shutdown()


def _gpu(nvml: Nvml, index: int) -> GpuInfo:
    memory = nvml.memory_info(index)
    utilization = temperature = processes = None
    try:
        utilization = nvml.utilization(index)
        temperature = nvml.temperature(index)
    except NvmlError:
        pass  # not every GPU reports these (MIG slices, some data-center cards)
    with contextlib.suppress(NvmlError):  # nor this (vGPU guests, containers without rights)
        processes = len(nvml.running_processes(index))
    return GpuInfo(
        index=index,
        name=nvml.name(index),
        memory_total_mb=memory.total // MB,
        memory_used_mb=memory.used // MB,
        utilization_pct=utilization,
        temperature_c=temperature,
        uuid=nvml.uuid(index),
        processes=processes,
    )


def read_host(name: str | None = None, nvml: Nvml | None = None) -> HostInfo:
    """This host as it is now (its GPUs through `nvml`, the real one unless given)."""
    memory = psutil.virtual_memory()
    return HostInfo(
        name=name or socket.gethostname(),
        cpus=os.cpu_count() or 1,
        memory_total_mb=int(memory.total // MB),
        memory_used_mb=int((memory.total - memory.available) // MB),
        gpus=read_gpus(nvml),
    )


def declared_hosts(data: dict[str, Any]) -> list[HostInfo]:
    """Hosts from a declared inventory (see the module docstring); ValueError if malformed."""
    hosts = []
    for position, node in enumerate(data.get("nodes") or []):
        if not isinstance(node, dict) or not node.get("name"):
            raise ValueError(f"nodes[{position}] needs a name")
        gpus = []
        for index, gpu in enumerate(node.get("gpus") or []):
            try:
                gpus.append(GpuInfo(index, str(gpu.get("name", "GPU")), int(gpu["memory_mb"])))
            except (KeyError, TypeError, ValueError, AttributeError):
                raise ValueError(f"nodes[{position}].gpus[{index}] needs memory_mb") from None
        hosts.append(
            HostInfo(
                name=str(node["name"]),
                cpus=int(node.get("cpus", 0)),
                memory_total_mb=int(node.get("memory_mb", 0)),
                memory_used_mb=0,
                gpus=tuple(gpus),
                source=NodeSource.DECLARED,
            )
        )
    return hosts


def inventory(declared: Path | None, nvml: Nvml | None = None) -> list[HostInfo]:
    """This host, plus the declared ones when CHUNGUS_INVENTORY names a file."""
    hosts = [read_host(nvml=nvml)]
    if declared is not None:
        hosts += declared_hosts(json.loads(declared.read_text()))
    return hosts
