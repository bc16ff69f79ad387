"""The Slurm launcher: an engine as a batch job: `sbatch`, then `scontrol`, `scancel` to stop."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from chungus.engines.base import LaunchSpec
from chungus.fleet.launchers.base import Launcher, LaunchState, LaunchStatus
from chungus.fleet.launchers.local import healthy, starting, tail

logger = logging.getLogger("chungus.fleet")

# What scontrol and scancel say of a job the controller forgot, or one that has ended.
GONE = ("Invalid job id", "already completing or completed")
ENDED = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "SPECIAL_EXIT",
    "REVOKED",
}


@dataclass(frozen=True, slots=True)
class SlurmOptions:
    partition: str = ""
    account: str = ""
    time_limit: str = ""  # Slurm's format, e.g. "1-00:00:00"; empty: the partition's default
    extra: tuple[str, ...] = ()  # more #SBATCH lines, e.g. ("--qos=inference",)
    env: dict[str, str] = field(default_factory=dict)  # for the Slurm commands, e.g. SLURM_CONF


@dataclass(slots=True)
class SlurmHandle:
    spec: LaunchSpec
    job_id: str
    log_path: Path
    stopped: bool = False


def job_script(spec: LaunchSpec, options: SlurmOptions, log_path: Path) -> str:
    """Render the batch script that runs the engine (pure)."""
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name=chungus-{spec.name}",
        f"#SBATCH --output={log_path}",
        "#SBATCH --no-requeue",  # CHUNGUS restarts an engine itself; a requeue would duplicate it
    ]
    if spec.gpus:
        lines.append(f"#SBATCH --gres=gpu:{len(spec.gpus)}")
    if options.partition:
        lines.append(f"#SBATCH --partition={options.partition}")
    if options.account:
        lines.append(f"#SBATCH --account={options.account}")
    if options.time_limit:
        lines.append(f"#SBATCH --time={options.time_limit}")
    lines += [f"#SBATCH {extra}" for extra in options.extra]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in spec.env.items()]
    # Slurm sets CUDA_VISIBLE_DEVICES for the GPUs it allocated; the engine uses those.
    lines.append("exec " + shlex.join(spec.command))
    return "\n".join(lines) + "\n"


def gone(error: Exception) -> bool:
    return any(words in str(error) for words in GONE)


def parse_fields(line: str) -> dict[str, str]:
    """`scontrol show … -o` output as a dict (pure)."""
    fields: dict[str, str] = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields


class SlurmLauncher(Launcher):
    name = "slurm"

    def __init__(self, log_dir: Path, options: SlurmOptions | None = None) -> None:
        self.log_dir = log_dir
        self.options = options or SlurmOptions()

    async def launch(self, spec: LaunchSpec) -> SlurmHandle:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{spec.name}-slurm.log"
        script = job_script(spec, self.options, log_path)
        output = await self._run("sbatch", "--parsable", stdin=script)
        return SlurmHandle(spec, output.strip().split(";")[0], log_path)

    async def poll(self, handle: SlurmHandle) -> LaunchStatus:
        if handle.stopped:
            return LaunchStatus(LaunchState.STOPPED)
        try:
            job = parse_fields(await self._run("scontrol", "show", "job", "-o", handle.job_id))
        except RuntimeError as exc:
            if gone(exc):  # the job has aged out of the controller
                detail = f"job {handle.job_id} is gone: {exc}"
                return LaunchStatus(LaunchState.EXITED, detail=detail)
            # The controller did not answer this time (busy, restarting): ask again next poll.
            return LaunchStatus(LaunchState.STARTING, detail=f"job {handle.job_id}: {exc}")
        state = job.get("JobState", "UNKNOWN")
        if state in ENDED:
            return LaunchStatus(
                LaunchState.EXITED, detail=f"job {handle.job_id} {state}\n{tail(handle.log_path)}"
            )
        if state != "RUNNING":  # queued (PENDING, CONFIGURING): Slurm is finding room
            why = job.get("Reason", "None")
            detail = f"job {handle.job_id} {state}" + (f" ({why})" if why != "None" else "")
            return LaunchStatus(LaunchState.PLACING, detail=detail)
        host = await self._node_address(job.get("BatchHost") or job.get("NodeList", ""))
        address = f"http://{host}:{handle.spec.port}"
        if await healthy(address + handle.spec.health_path):
            return LaunchStatus(LaunchState.READY, address=address)
        return starting(f"job {handle.job_id} running on {host}; engine loading", handle.log_path)

    async def terminate(self, handle: SlurmHandle) -> None:
        if handle.stopped:
            return
        handle.stopped = True
        for attempt in range(3):
            try:
                await self._run("scancel", handle.job_id)
                break
            except RuntimeError as exc:
                if gone(exc):
                    return
                if attempt == 2:
                    logger.error("could not cancel Slurm job %s: %s", handle.job_id, exc)
                    return
                await asyncio.sleep(1)
        for _ in range(100):  # wait until the job has left the node, so its GPUs are free
            try:
                job = parse_fields(await self._run("scontrol", "show", "job", "-o", handle.job_id))
            except RuntimeError:
                return
            if job.get("JobState") in ENDED:
                return
            await asyncio.sleep(0.1)

    async def _node_address(self, node: str) -> str:
        try:
            fields = parse_fields(await self._run("scontrol", "show", "node", "-o", node))
        except RuntimeError:
            return node
        return fields.get("NodeAddr") or node

    async def _run(self, *command: str, stdin: str | None = None) -> str:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **self.options.env},
        )
        out, err = await process.communicate(stdin.encode() if stdin is not None else None)
        if process.returncode != 0:
            raise RuntimeError(
                f"{command[0]} failed: {err.decode().strip() or out.decode().strip()}"
            )
        return out.decode()
