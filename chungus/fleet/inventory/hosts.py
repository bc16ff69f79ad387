"""What a host has: CPUs, memory and NVIDIA GPUs (through NVML), or a declared inventory.

A host without NVIDIA GPUs or without the driver reports none and its CPU and
memory only. Declared inventories (simulated GPUs) serve tests and capacity
planning: a JSON file named by CHUNGUS_INVENTORY, e.g.
`{"nodes": [{"name": "gpu-01", "gpus": [{"name": "H100", "memory_mb": 81559}] * 8}]}`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

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


@dataclass(frozen=True, slots=True)
class HostInfo:
    name: str
    cpus: int
    memory_total_mb: int
    memory_used_mb: int
    gpus: tuple[GpuInfo, ...] = field(default_factory=tuple)
    source: str = "local"  # "local" (read from this host) or "declared"


def read_gpus() -> tuple[GpuInfo, ...]:
    """This host's NVIDIA GPUs through NVML; none when there is no driver or no GPU."""
    try:
        import pynvml
    except ImportError:
        return ()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return ()  # no NVIDIA driver here: a CPU-only host
    try:
        return tuple(_gpu(pynvml, index) for index in range(pynvml.nvmlDeviceGetCount()))
    except pynvml.NVMLError as exc:
        logger.warning("reading GPUs through NVML failed: %s", exc)
        return ()
    finally:
        pynvml.nvmlShutdown()


def _gpu(nvml: Any, index: int) -> GpuInfo:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    name = nvml.nvmlDeviceGetName(handle)
    utilization = temperature = None
    try:
        utilization = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        temperature = int(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
    except nvml.NVMLError:
        pass  # not every GPU reports these (MIG slices, some data-center cards)
    return GpuInfo(
        index=index,
        name=name.decode() if isinstance(name, bytes) else str(name),
        memory_total_mb=int(memory.total // MB),
        memory_used_mb=int(memory.used // MB),
        utilization_pct=utilization,
        temperature_c=temperature,
        uuid=str(nvml.nvmlDeviceGetUUID(handle)),
    )


def read_host(name: str | None = None) -> HostInfo:
    """This host as it is now."""
    memory = psutil.virtual_memory()
    return HostInfo(
        name=name or socket.gethostname(),
        cpus=os.cpu_count() or 1,
        memory_total_mb=int(memory.total // MB),
        memory_used_mb=int((memory.total - memory.available) // MB),
        gpus=read_gpus(),
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
                source="declared",
            )
        )
    return hosts


def inventory(declared: Path | None) -> list[HostInfo]:
    """This host, plus the declared ones when CHUNGUS_INVENTORY names a file."""
    hosts = [read_host()]
    if declared is not None:
        hosts += declared_hosts(json.loads(declared.read_text()))
    return hosts
