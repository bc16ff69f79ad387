"""What the runner says to fah-client v8 on its control port (pure; no I/O).

The client serves a WebSocket at /api/websocket (what Web Control and `fahctl` use). On
connecting it sends its state, whose info.gpus maps its GPU ids ("gpu:01:00:00", from
the PCI bus) to what it found; a GPU that a CUDA (or HIP) library showed it carries a
"cuda" (or "hip") entry. The runner starts it with CUDA_VISIBLE_DEVICES set to the job's
GPUs, so those are the GPUs it enables in the job's resource group. Commands are JSON
objects with "cmd" and a "time" later than the last of that command (the client ignores
older ones): "config" sets the resource groups (any not named is removed; the default
group "" always exists), "state" pauses or folds a group.
"""

from __future__ import annotations

import time
from typing import Any

DEFAULT_GROUP = ""


def group_name(visible: str) -> str:
    """The resource group of a GPU set, from CUDA_VISIBLE_DEVICES: "chungus-gpu-0-1"."""
    indices = [part.strip() for part in visible.split(",") if part.strip()]
    return "chungus-gpu-" + "-".join(indices) if indices else "chungus-cpu"


def our_gpus(state: dict[str, Any]) -> list[str]:
    """The client's ids of the GPUs a compute library showed it (the visible ones)."""
    info = state.get("info")
    gpus = info.get("gpus") if isinstance(info, dict) else None
    if not isinstance(gpus, dict):
        return []
    return sorted(
        gpu_id
        for gpu_id, found in gpus.items()
        if isinstance(found, dict) and (found.get("cuda") or found.get("hip"))
    )


def stamp(now: float | None = None) -> str:
    """The client's time format (cbang's Time: ISO 8601 in UTC, to the second)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))


def configure(group: str, cpus: int, gpus: list[str], now: float | None = None) -> dict[str, Any]:
    """One resource group over `gpus` with `cpus` CPUs; the default group folds nothing."""
    groups = {
        DEFAULT_GROUP: {"cpus": 0, "gpus": {}},
        group: {"cpus": cpus, "gpus": {g: {"enabled": True} for g in gpus}, "on_idle": False},
    }
    return {"cmd": "config", "time": stamp(now), "config": {"groups": groups}}


def fold(group: str, now: float | None = None) -> dict[str, Any]:
    return {"cmd": "state", "state": "fold", "group": group, "time": stamp(now)}
