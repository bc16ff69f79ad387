"""The Slurm launcher: an engine as a batch job: `sbatch`, then `scontrol`, `scancel` to stop."""

from __future__ import annotations

import asyncio
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from chungus.fleet.launchers.base import Launcher, LaunchSpec, LaunchState, LaunchStatus
from chungus.fleet.launchers.local import healthy, starting, tail

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
        except RuntimeError as exc:  # the job has aged out of the controller
            return LaunchStatus(LaunchState.EXITED, detail=f"job {handle.job_id} is gone: {exc}")
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
        try:
            await self._run("scancel", handle.job_id)
        except RuntimeError:
            return  # already gone
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
