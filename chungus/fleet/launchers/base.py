"""The launcher contract: every place engines run (local, Slurm, Ray) implements it.

launch(spec) -> handle      start the engine (a LaunchSpec, which its Engine built); returns at once
poll(handle) -> LaunchStatus  where it is in its life, and its address once known
terminate(handle)           stop it; safe to call any number of times
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chungus.engines.base import LaunchSpec


class LaunchState(StrEnum):
    PLACING = "placing"  # waiting for its cluster to give it resources (Slurm queue, Ray GPUs)
    STARTING = "starting"  # started, not yet answering its health check
    READY = "ready"  # answering; `address` is set
    EXITED = "exited"  # the engine process ended
    STOPPED = "stopped"  # terminated on request


@dataclass(frozen=True, slots=True)
class LaunchStatus:
    state: LaunchState
    address: str | None = None
    detail: str = ""


class Launcher(abc.ABC):
    name: str

    @abc.abstractmethod
    async def launch(self, spec: LaunchSpec) -> Any:
        """Start the engine and return a handle for poll and terminate."""

    @abc.abstractmethod
    async def poll(self, handle: Any) -> LaunchStatus:
        """Return the engine's state; READY only once its health check passes."""

    @abc.abstractmethod
    async def terminate(self, handle: Any) -> None:
        """Stop the engine; calling it again, or on an ended engine, does nothing."""
