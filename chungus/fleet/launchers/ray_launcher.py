"""The Ray launcher: each replica is a Ray actor that runs the engine on its node.

An engine's actor is detached, named after the deployment's replica: it outlives the
CHUNGUS that started it, so when that one is killed the next leader adopts the engine
still serving instead of restarting it (a CHUNGUS that stops cleanly ends it first). A
leftover actor of the same name that nobody adopted is killed before a launch. vLLM over
several GPUs (below) still belongs to this process's Ray job: its placement group and
driver end with it, and the next leader starts them again.

One GPU or none: the actor asks Ray for `num_gpus` = the spec's GPU count, so Ray
picks the node and the cards (and sets CUDA_VISIBLE_DEVICES); the engine is the
actor's child process, and `ray.kill` ends the actor and the engine with it.

vLLM on several GPUs (tensor x pipeline parallel, on one node or across several):
1. launch reserves a placement group of one {"GPU": 1} bundle per GPU, strategy PACK:
   Ray fills one node and spills to others only when it must, as vLLM does when it
   reserves GPUs itself (STRICT_PACK would make a model larger than a node impossible;
   vLLM warns when tensor-parallel workers span nodes).
2. poll answers PLACING "waiting for 8 GPUs in the Ray cluster: 2 available" until
   the group is placed (or EXITED once `placement_timeout_s`, if set, has passed).
3. Once placed, the driver actor goes on bundle 0 with no GPU of its own and runs
   `vllm serve ... --distributed-executor-backend ray` inside its own process (see
   ray_actor.InProcessEngineActor for why not a child process); vLLM takes the
   placement group it runs in and starts one worker per bundle, one GPU each.
4. An engine that ends, and terminate, kill the actor and remove the placement group,
   which kills vLLM's workers in it.

A job (port 0) runs in a detached JobActor (ray_actor.py) asking `num_gpus` = its GPU
count (0 allowed) and `num_cpus` = its CHUNGUS_CPU_CORES: unlike an engine it outlives
the CHUNGUS that launched it, and the next CHUNGUS adopts it by the actor's name. poll
says RUNNING while its process runs and EXITED with its exit code; terminate sends it
SIGTERM, SIGKILL after the grace, then kills the actor, which frees its GPUs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chungus.engines.base import LaunchSpec
from chungus.engines.vllm.server import is_vllm_serve, with_ray_backend
from chungus.fleet.launchers.base import Launcher, LaunchState, LaunchStatus
from chungus.fleet.launchers.local import healthy, log_file_path


@dataclass(slots=True)
class RayHandle:
    spec: LaunchSpec
    actor: Any  # None until the placement group, if any, is placed
    name: str
    stopped: bool = False
    placement_group: Any = None
    placed: Any = None  # the placement group's ready() reference
    deadline: float = 0.0  # when to give up waiting for the placement group
    host: str = ""
    serving: Any = None  # InProcessEngineActor.serve's reference: resolves when the engine ends
    started: Any = None  # EngineActor.start's reference: resolves once Ray has placed the actor
    ended: LaunchStatus | None = None


@dataclass(frozen=True, slots=True)
class RayOptions:
    address: str | None = "auto"  # None: use the Ray this process already joined
    namespace: str = "chungus"
    num_cpus: float = 1.0
    placement_strategy: str = "PACK"  # or STRICT_PACK: tensor parallel within one node only
    placement_timeout_s: float | None = None  # None: wait for GPUs as long as Slurm's queue
    init: dict[str, Any] = field(default_factory=dict)


def engine_bundles(gpus: int, driver_cpus: float) -> list[dict[str, float]]:
    """One bundle per GPU for vLLM's workers (they ask for no CPU); the first also holds
    the CPUs of the driver actor, which runs on it."""
    bundles = [{"GPU": 1.0} for _ in range(gpus)]
    if driver_cpus:
        bundles[0]["CPU"] = driver_cpus
    return bundles


def pending_reason(needed: int, available: float, total: float) -> str:
    """Why an engine has not started yet, from the cluster's GPU counts."""
    if not needed:
        return "waiting for the Ray cluster to place it (no CPU free)"
    gpus = "1 GPU" if needed == 1 else f"{needed} GPUs"
    reason = f"waiting for {gpus} in the Ray cluster: {available:g} available"
    return reason if total >= needed else f"{reason}, {total:g} in all"


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

    def _log_path(self, spec: LaunchSpec) -> str:
        return str(log_file_path(self.log_dir, spec, "-ray"))  # a job's: in its directory

    async def launch(self, spec: LaunchSpec) -> RayHandle:
        ray = await self._ray()
        name = f"chungus-{spec.name}"
        if spec.is_job:
            return await self._launch_job(ray, spec, name)
        if len(spec.gpus) > 1 and is_vllm_serve(spec.command):
            bundles = engine_bundles(len(spec.gpus), self.options.num_cpus)
            strategy = self.options.placement_strategy
            group, placed = await asyncio.to_thread(_reserve, ray, bundles, strategy, name)
            timeout = self.options.placement_timeout_s
            deadline = time.monotonic() + timeout if timeout else 0.0
            return RayHandle(spec, None, name, placement_group=group, placed=placed,
                             deadline=deadline)  # fmt: skip
        from chungus.fleet.launchers.ray_actor import EngineActor

        await self._clear_ended(ray, name, running_too=True)
        remote = ray.remote(EngineActor).options(
            name=name,
            namespace=self.options.namespace,
            num_gpus=len(spec.gpus),
            num_cpus=self.options.num_cpus,
            max_restarts=0,
            lifetime="detached",  # the next leader adopts it if this CHUNGUS is killed
        )
        args: tuple[Any, ...] = (
            list(spec.command),
            dict(spec.env),
            self._log_path(spec),
            list(spec.pass_env),
        )
        actor = await asyncio.to_thread(remote.remote, *args)  # Ray calls block: off the loop
        # Not awaited: Ray runs it once it has placed the actor, which may take a while.
        return RayHandle(spec, actor, name, started=actor.start.remote())

    async def _launch_job(self, ray: Any, spec: LaunchSpec, name: str) -> RayHandle:
        await self._clear_ended(ray, name)
        from chungus.fleet.launchers.ray_actor import JobActor

        env = dict(spec.env)
        if not spec.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ""  # a job without GPUs must not use any
        remote = ray.remote(JobActor).options(
            name=name,
            namespace=self.options.namespace,
            num_gpus=len(spec.gpus),
            num_cpus=job_cpus(spec, self.options.num_cpus),
            max_restarts=0,
            lifetime="detached",  # a restarted CHUNGUS adopts it instead of running a second
        )
        args: tuple[Any, ...] = (
            list(spec.command),
            env,
            self._log_path(spec),
            spec.cwd,
            list(spec.pass_env),
        )
        actor = await asyncio.to_thread(remote.remote, *args)
        # Resolves once Ray has placed the actor and it has started the job.
        return RayHandle(spec, actor, name, started=actor.status.remote())

    async def _clear_ended(self, ray: Any, name: str, *, running_too: bool = False) -> None:
        """Kill the actor left by an earlier attempt whose job has ended (it still holds the
        name and its GPUs); refuse to start a second copy of a job that still runs. An
        engine nobody adopted (`running_too`) is killed even while it runs: it holds no
        work, and a replica of the same name is about to start."""
        try:
            actor = await asyncio.to_thread(ray.get_actor, name, namespace=self.options.namespace)
        except ValueError:
            return
        try:
            running = (await asyncio.wait_for(actor.status.remote(), 5))["exit_code"] is None
        except Exception:  # a dead actor, or one never placed: it runs nothing
            running = False
        if running and not running_too:
            raise RuntimeError(f"{name} still runs in the Ray cluster")
        with contextlib.suppress(Exception):
            await asyncio.to_thread(ray.kill, actor, no_restart=True)
        for _ in range(50):
            try:
                await asyncio.to_thread(ray.get_actor, name, namespace=self.options.namespace)
            except ValueError:
                return
            await asyncio.sleep(0.1)

    async def poll(self, handle: RayHandle) -> LaunchStatus:
        if handle.stopped and not handle.spec.is_job:  # a job's exit code says how it ended
            return LaunchStatus(LaunchState.STOPPED)
        if handle.ended is not None:
            return handle.ended
        ray = await self._ray()
        if handle.placement_group is not None:
            status = await self._poll_placed(ray, handle)
        else:
            status = await self._poll_child(ray, handle)
        if status.state is LaunchState.EXITED:
            handle.ended = status
            await self._release(ray, handle)  # frees the name, the GPUs and the group
        return status

    async def _poll_child(self, ray: Any, handle: RayHandle) -> LaunchStatus:
        if handle.started is not None:
            if not await _done(ray, handle.started):
                return await self._waiting(ray, handle)
            started, handle.started = handle.started, None
            try:
                await started
            except Exception as exc:  # e.g. the engine's binary is missing on that node
                what = "job" if handle.spec.is_job else "engine"
                return LaunchStatus(LaunchState.EXITED, detail=f"the {what} did not start: {exc}")
        try:
            status = await asyncio.wait_for(handle.actor.status.remote(), 10)
        except Exception as exc:  # the actor died, or its node did
            return LaunchStatus(LaunchState.EXITED, detail=f"actor {handle.name} is gone: {exc}")
        return self._child_status(handle, status) or await self._health(handle, status["host"])

    def _child_status(self, handle: RayHandle, status: dict[str, Any]) -> LaunchStatus | None:
        """EXITED once the child has ended; a job's RUNNING while it runs (None: an engine's
        health check decides)."""
        code = status["exit_code"]
        what = "job" if handle.spec.is_job else "engine"
        if code is not None:
            detail = f"{what} exited with {code}\n{status['log_tail']}"
            return LaunchStatus(LaunchState.EXITED, detail=detail, exit_code=code)
        if handle.spec.is_job:
            host = status["host"]
            return LaunchStatus(LaunchState.RUNNING, detail=f"running on {host}", host=host)
        return None

    async def _poll_placed(self, ray: Any, handle: RayHandle) -> LaunchStatus:
        if handle.actor is None:
            if not await _done(ray, handle.placed):
                return await self._waiting(ray, handle)
            try:
                await self._start_driver(ray, handle)
            except Exception as exc:
                return LaunchStatus(LaunchState.EXITED, detail=f"driver actor failed: {exc}")
        if not await _done(ray, handle.serving):
            return await self._health(handle, handle.host)
        try:
            detail = f"engine exited with {await handle.serving}"
        except Exception as exc:  # the actor died, or its node did
            detail = f"actor {handle.name} is gone: {exc}"
        with contextlib.suppress(Exception):
            detail += "\n" + await asyncio.wait_for(handle.actor.tail.remote(), 10)
        return LaunchStatus(LaunchState.EXITED, detail=detail)

    async def _waiting(self, ray: Any, handle: RayHandle) -> LaunchStatus:
        available, total = await asyncio.to_thread(_gpu_counts, ray)
        reason = pending_reason(len(handle.spec.gpus), available, total)
        if not handle.deadline or time.monotonic() < handle.deadline:
            return LaunchStatus(LaunchState.PLACING, detail=reason)
        timeout = self.options.placement_timeout_s
        return LaunchStatus(LaunchState.EXITED, detail=f"gave up after {timeout:g} s {reason}")

    async def _start_driver(self, ray: Any, handle: RayHandle) -> None:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        from chungus.fleet.launchers.ray_actor import InProcessEngineActor

        on_first_bundle = PlacementGroupSchedulingStrategy(
            placement_group=handle.placement_group,
            placement_group_bundle_index=0,
            placement_group_capture_child_tasks=True,
        )
        remote = ray.remote(InProcessEngineActor).options(
            name=handle.name,
            namespace=self.options.namespace,
            num_gpus=0,  # vLLM's workers take the bundles' GPUs
            num_cpus=self.options.num_cpus,
            max_restarts=0,
            scheduling_strategy=on_first_bundle,
        )
        command = with_ray_backend(handle.spec.command)
        spec = handle.spec
        args: tuple[Any, ...] = (
            list(command),
            dict(spec.env),
            self._log_path(spec),
            list(spec.pass_env),
        )
        handle.actor = await asyncio.to_thread(remote.remote, *args)
        handle.host = (await asyncio.wait_for(handle.actor.where.remote(), 60))["host"]
        handle.serving = handle.actor.serve.remote()

    async def _health(self, handle: RayHandle, host: str) -> LaunchStatus:
        address = f"http://{host}:{handle.spec.port}"
        if await healthy(address + handle.spec.health_path, handle.spec.api_key):
            return LaunchStatus(LaunchState.READY, address=address)
        return LaunchStatus(LaunchState.STARTING, detail=f"engine loading on {host}")

    async def _release(self, ray: Any, handle: RayHandle) -> None:
        if handle.actor is not None:
            with contextlib.suppress(Exception):  # already gone
                await asyncio.to_thread(ray.kill, handle.actor, no_restart=True)
        if handle.placement_group is not None:
            with contextlib.suppress(Exception):  # already removed
                await asyncio.to_thread(ray.util.remove_placement_group, handle.placement_group)

    async def terminate(self, handle: RayHandle, grace: float | None = None) -> None:
        if handle.stopped:
            return
        handle.stopped = True
        ray = await self._ray()
        if handle.spec.is_job:
            await self._stop_job(ray, handle, 30.0 if grace is None else grace)
            return
        if handle.placement_group is None and handle.ended is None and handle.started is None:
            with contextlib.suppress(Exception):  # already gone: killing it below is enough
                await asyncio.wait_for(handle.actor.stop.remote(), 20)
        await self._release(ray, handle)

    async def _stop_job(self, ray: Any, handle: RayHandle, grace: float) -> None:
        """SIGTERM the job (it checkpoints), SIGKILL after `grace`, then kill its actor."""
        if handle.ended is not None:  # ended, and poll has released it
            return
        if handle.started is not None and not await _done(ray, handle.started):
            # Never ran: nothing to save.
            handle.ended = LaunchStatus(LaunchState.EXITED, detail="stopped before it ran")
            await self._release(ray, handle)
            return
        try:
            status = await asyncio.wait_for(handle.actor.end.remote(grace), grace + 30)
            handle.ended = self._child_status(handle, status)
        except Exception as exc:  # the actor died, or its node did
            detail = f"actor {handle.name} is gone: {exc}"
            handle.ended = LaunchStatus(LaunchState.EXITED, detail=detail)
        await self._release(ray, handle)

    def reference(self, handle: RayHandle) -> dict[str, Any]:
        return {"actor": handle.name, "namespace": self.options.namespace}

    async def adopt(self, spec: LaunchSpec, reference: dict[str, Any]) -> RayHandle | None:
        name = str(reference.get("actor") or "")
        if not name:
            return None
        ray = await self._ray()
        try:
            namespace = reference.get("namespace")
            actor = await asyncio.to_thread(ray.get_actor, name, namespace=namespace)
        except ValueError:  # no such actor: the job ended and its actor was killed
            return None
        try:
            status = await asyncio.wait_for(actor.status.remote(), 5)
        except TimeoutError:  # not placed yet: it starts once Ray finds it room
            return RayHandle(spec, actor, name, started=actor.status.remote())
        except Exception:  # the actor died
            return None
        if status["exit_code"] is not None:  # ended while no CHUNGUS followed it
            with contextlib.suppress(Exception):
                await asyncio.to_thread(ray.kill, actor, no_restart=True)  # it held its GPUs
            return None
        return RayHandle(spec, actor, name)


async def _done(ray: Any, reference: Any) -> bool:
    """Whether a Ray reference has resolved, asked off the event loop (Ray's calls block)."""
    ready, _ = await asyncio.to_thread(ray.wait, [reference], timeout=0)
    return bool(ready)


def _gpu_counts(ray: Any) -> tuple[float, float]:
    """GPUs free and in all in the Ray cluster (two calls to its control store: blocking)."""
    return ray.available_resources().get("GPU", 0), ray.cluster_resources().get("GPU", 0)


def _reserve(ray: Any, bundles: list[dict[str, float]], strategy: str, name: str) -> Any:
    """Ask Ray for a placement group; return it and its ready() reference (blocking)."""
    group = ray.util.placement_group(bundles, strategy=strategy, name=name)
    return group, group.ready()


def job_cpus(spec: LaunchSpec, default: float) -> float:
    """The CPUs a job asks Ray for: its CHUNGUS_CPU_CORES (pure)."""
    try:
        return max(0.0, float(spec.env.get("CHUNGUS_CPU_CORES", default)))
    except ValueError:
        return default
