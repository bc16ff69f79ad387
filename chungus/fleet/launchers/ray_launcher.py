"""The Ray launcher: each replica is a detached Ray actor that runs the engine on its node.

The actor asks Ray for `num_gpus` = the spec's GPU count, so Ray picks the node
and the cards (and sets CUDA_VISIBLE_DEVICES); `ray.kill` ends the actor and the
engine with it. vLLM's own multi-node tensor/pipeline parallelism runs on the
same Ray cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chungus.fleet.launchers.base import Launcher, LaunchSpec, LaunchState, LaunchStatus
from chungus.fleet.launchers.local import healthy


@dataclass(slots=True)
class RayHandle:
    spec: LaunchSpec
    actor: Any
    name: str
    stopped: bool = False


@dataclass(frozen=True, slots=True)
class RayOptions:
    address: str | None = "auto"  # None: use the Ray this process already joined
    namespace: str = "chungus"
    num_cpus: float = 1.0
    init: dict[str, Any] = field(default_factory=dict)


class RayLauncher(Launcher):
    name = "ray"

    def __init__(self, log_dir: Path, options: RayOptions | None = None) -> None:
        self.log_dir = log_dir
        self.options = options or RayOptions()

    async def _ray(self) -> Any:
        import ray

        if not ray.is_initialized():
            await asyncio.to_thread(
                ray.init,
                address=self.options.address,
                namespace=self.options.namespace,
                **self.options.init,
            )
        return ray

    async def launch(self, spec: LaunchSpec) -> RayHandle:
        ray = await self._ray()
        from chungus.fleet.launchers.ray_actor import EngineActor

        name = f"chungus-{spec.name}"
        remote = ray.remote(EngineActor).options(
            name=name,
            namespace=self.options.namespace,
            lifetime="detached",
            num_gpus=len(spec.gpus),
            num_cpus=self.options.num_cpus,
            max_restarts=0,
        )
        log_path = str(self.log_dir / f"{spec.name}-ray.log")
        actor = remote.remote(list(spec.command), dict(spec.env), log_path)
        await actor.start.remote()
        return RayHandle(spec, actor, name)

    async def poll(self, handle: RayHandle) -> LaunchStatus:
        if handle.stopped:
            return LaunchStatus(LaunchState.STOPPED)
        try:
            status = await asyncio.wait_for(handle.actor.status.remote(), 10)
        except Exception as exc:  # the actor died, or its node did
            return LaunchStatus(LaunchState.EXITED, detail=f"actor {handle.name} is gone: {exc}")
        if status["exit_code"] is not None:
            detail = f"engine exited with {status['exit_code']}\n{status['log_tail']}"
            return LaunchStatus(LaunchState.EXITED, detail=detail)
        address = f"http://{status['host']}:{handle.spec.port}"
        if await healthy(address + handle.spec.health_path):
            return LaunchStatus(LaunchState.READY, address=address)
        return LaunchStatus(LaunchState.STARTING, detail=f"engine loading on {status['host']}")

    async def terminate(self, handle: RayHandle) -> None:
        if handle.stopped:
            return
        handle.stopped = True
        ray = await self._ray()
        with contextlib.suppress(Exception):  # already gone: killing it below is enough
            await asyncio.wait_for(handle.actor.stop.remote(), 20)
        with contextlib.suppress(Exception):
            ray.kill(handle.actor, no_restart=True)
