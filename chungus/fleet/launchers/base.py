"""The launcher contract: every place engines run (local, Slurm, Ray) implements it.

launch(spec) -> handle      start the engine (a LaunchSpec, which its Engine built); returns at once
poll(handle) -> LaunchStatus  where it is in its life, and its address once known
terminate(handle, grace)    stop it: SIGTERM, then SIGKILL after `grace` seconds; safe to call
                            any number of times

Jobs (a LaunchSpec with port 0) use the same calls: they run to completion with no port and
no health check; poll says RUNNING while they run and EXITED with the exit code when they
end. `reference(handle)` is what to store to find a job again after CHUNGUS restarts, and
`adopt(spec, reference)` finds it (None when it is no longer running).
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
    RUNNING = "running"  # a job's process is running (jobs have no health check)
    EXITED = "exited"  # the engine process ended
    STOPPED = "stopped"  # terminated on request


@dataclass(frozen=True, slots=True)
class LaunchStatus:
    state: LaunchState
    address: str | None = None
    detail: str = ""
    exit_code: int | None = None  # of an EXITED job, where the launcher learns it
    host: str = ""  # where it runs, where the launcher knows


class Launcher(abc.ABC):
    name: str

    @abc.abstractmethod
    async def launch(self, spec: LaunchSpec) -> Any:
        """Start the engine and return a handle for poll and terminate."""

    @abc.abstractmethod
    async def poll(self, handle: Any) -> LaunchStatus:
        """Return the engine's state; READY only once its health check passes."""

    @abc.abstractmethod
    async def terminate(self, handle: Any, grace: float | None = None) -> None:
        """Stop the engine or job: SIGTERM, then SIGKILL after `grace` seconds (None: the
        launcher's default); returns once it has ended. Calling it again does nothing."""

    def reference(self, handle: Any) -> dict[str, Any]:
        """What to store to find this job again from another process (JSON-able)."""
        return {}

    async def adopt(self, spec: LaunchSpec, reference: dict[str, Any]) -> Any | None:
        """A handle on a job that a process before this one launched, if it still runs."""
        return None
