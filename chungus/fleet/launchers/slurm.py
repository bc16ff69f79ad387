"""The Slurm launcher: an engine or a job as a batch job: `sbatch`, then `scontrol`, `scancel`.

A job (port 0) runs in its directory and appends to its log, so a resumed attempt adds to
what the earlier ones wrote. Its batch script `exec`s the command: the batch step's process
is the job's own, so `scancel --signal=TERM --full` reaches it, and Slurm records its exit
code (ExitCode=75:0 for a job that checkpointed). Stopping a job that ignores SIGTERM:
`scancel --signal=KILL --batch` kills it at once, where a plain `scancel` would first wait
KillWait (30 s by default) with the job still on its GPUs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
# A job in these states has not started yet: Slurm is still finding room for it.
QUEUED = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"}
LEAVE_NODE_S = 60.0  # how long terminate waits for a killed job to leave its node


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
    ended: LaunchStatus | None = None  # a job's end, once learned (Slurm forgets it later)


def job_script(spec: LaunchSpec, options: SlurmOptions, log_path: Path) -> str:
    """Render the batch script that runs the engine or job (pure)."""
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name=chungus-{spec.name}",
        f"#SBATCH --output={log_path}",
        "#SBATCH --no-requeue",  # CHUNGUS restarts an engine itself; a requeue would duplicate it
    ]
    if spec.is_job:
        lines.append("#SBATCH --open-mode=append")  # a resumed job writes to the same log
        if spec.cwd:
            lines.append(f"#SBATCH --chdir={spec.cwd}")
        cores = spec.env.get("CHUNGUS_CPU_CORES", "")
        if cores.isdigit() and int(cores) > 1:
            lines.append(f"#SBATCH --cpus-per-task={cores}")
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
    if spec.is_job and not spec.gpus:
        lines.append("export CUDA_VISIBLE_DEVICES=")  # not the submitter's: it was given none
    # Slurm sets CUDA_VISIBLE_DEVICES for the GPUs it allocated; the engine uses those.
    # exec: the batch step's process is the command itself, so Slurm's signals reach it.
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


def exit_code(value: str) -> int | None:
    """Slurm's ExitCode "code:signal" as a process's return code: 75:0 is 75, 0:9 is -9 (pure)."""
    code, _, signal = value.partition(":")
    try:
        return -int(signal) if signal and int(signal) else int(code)
    except ValueError:
        return None


def ended_code(state: str, value: str) -> int | None:
    """The exit code of a job that ended in `state`; None where its process never said one
    (0:0 of a job cancelled while queued, or one that failed to start) (pure)."""
    code = exit_code(value)
    return None if code == 0 and state != "COMPLETED" else code


def parse_sacct(output: str) -> tuple[str, int | None] | None:
    """The state and exit code in `sacct -n -X -P -o State,ExitCode` output (pure)."""
    for line in output.splitlines():
        state, sep, code = line.strip().partition("|")
        if sep:
            state = (state.split() or ["UNKNOWN"])[0]  # "CANCELLED by 0"
            return state, ended_code(state, code)
    return None


class SlurmLauncher(Launcher):
    name = "slurm"

    def __init__(self, log_dir: Path, options: SlurmOptions | None = None) -> None:
        self.log_dir = log_dir
        self.options = options or SlurmOptions()

    def _log_path(self, spec: LaunchSpec) -> Path:
        if spec.is_job and spec.log_path:
            return Path(spec.log_path)
        return self.log_dir / f"{spec.name}-slurm.log"

    async def launch(self, spec: LaunchSpec) -> SlurmHandle:
        log_path = self._log_path(spec)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        script = job_script(spec, self.options, log_path)
        output = await self._run("sbatch", "--parsable", stdin=script)
        return SlurmHandle(spec, output.strip().split(";")[0], log_path)

    async def poll(self, handle: SlurmHandle) -> LaunchStatus:
        if handle.spec.is_job:
            return await self._poll_job(handle)
        if handle.stopped:
            return LaunchStatus(LaunchState.STOPPED)
        try:
            job = await self._job(handle.job_id)
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
            return LaunchStatus(LaunchState.PLACING, detail=queued(handle.job_id, job))
        host = await self._node_address(job.get("BatchHost") or job.get("NodeList", ""))
        address = f"http://{host}:{handle.spec.port}"
        if await healthy(address + handle.spec.health_path):
            return LaunchStatus(LaunchState.READY, address=address)
        return starting(f"job {handle.job_id} running on {host}; engine loading", handle.log_path)

    async def _poll_job(self, handle: SlurmHandle) -> LaunchStatus:
        """PLACING while queued, RUNNING (on its node) until it ends, then EXITED with its
        exit code. Raises RuntimeError when the controller does not answer."""
        if handle.ended is not None:
            return handle.ended
        try:
            job = await self._job(handle.job_id)
        except RuntimeError as exc:
            if not gone(exc):
                raise
            handle.ended = await self._forgotten(handle)
            return handle.ended
        state = job.get("JobState", "UNKNOWN")
        if state in ENDED:
            code = ended_code(state, job.get("ExitCode", ""))
            handle.ended = self._exited(handle, state, code)
            return handle.ended
        if state in QUEUED:
            return LaunchStatus(LaunchState.PLACING, detail=queued(handle.job_id, job))
        host = job.get("BatchHost") or job.get("NodeList", "")
        detail = f"job {handle.job_id} {state} on {host}"  # RUNNING; COMPLETING still holds GPUs
        return LaunchStatus(LaunchState.RUNNING, detail=detail, host=host)

    async def _forgotten(self, handle: SlurmHandle) -> LaunchStatus:
        """How a job the controller no longer shows ended, from accounting where it is kept."""
        with contextlib.suppress(RuntimeError):  # no slurmdbd: sacct cannot tell
            found = parse_sacct(
                await self._run("sacct", "-n", "-X", "-P", "-o", "State,ExitCode", "-j",
                                handle.job_id)
            )  # fmt: skip
            if found is not None:
                return self._exited(handle, *found)
        return self._exited(handle, "gone from the controller (exit code unknown)", None)

    def _exited(self, handle: SlurmHandle, state: str, code: int | None) -> LaunchStatus:
        detail = f"job {handle.job_id} {state}"
        if code is not None:
            detail += f", exit code {code}"
        return LaunchStatus(
            LaunchState.EXITED, detail=f"{detail}\n{tail(handle.log_path)}", exit_code=code
        )

    async def terminate(self, handle: SlurmHandle, grace: float | None = None) -> None:
        if handle.stopped:
            return
        handle.stopped = True
        if handle.spec.is_job:
            await self._stop_job(handle, 30.0 if grace is None else grace)
            return
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
                job = await self._job(handle.job_id)
            except RuntimeError:
                return
            if job.get("JobState") in ENDED:
                return
            await asyncio.sleep(0.1)

    async def _stop_job(self, handle: SlurmHandle, grace: float) -> None:
        """SIGTERM the job's process (it checkpoints), SIGKILL after `grace`, then wait until
        the job has left its node, so its GPUs are free for whoever preempted it."""
        status = await self._poll_job(handle)
        if status.state is LaunchState.EXITED:
            return
        if status.state is LaunchState.RUNNING:
            await self._scancel("--signal=TERM", "--full", handle.job_id)
            if await self._until_ended(handle, grace):
                return
            # Straight to its process: a plain scancel would wait KillWait before killing it.
            await self._scancel("--signal=KILL", "--batch", handle.job_id)
        await self._scancel(handle.job_id)  # queued: it never ran, nothing to save
        if not await self._until_ended(handle, LEAVE_NODE_S):
            logger.error("Slurm job %s still on its node %g s after scancel", handle.job_id,
                         LEAVE_NODE_S)  # fmt: skip

    async def _until_ended(self, handle: SlurmHandle, seconds: float) -> bool:
        """Poll until the job has ended; False if it has not within `seconds`."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            with contextlib.suppress(RuntimeError):  # the controller is busy: ask again
                if (await self._poll_job(handle)).state is LaunchState.EXITED:
                    return True
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.1)

    async def _scancel(self, *arguments: str) -> None:
        try:
            await self._run("scancel", *arguments)
        except RuntimeError as exc:
            if not gone(exc):  # one that ended meanwhile is what we want
                logger.warning("scancel %s: %s", " ".join(arguments), exc)

    def reference(self, handle: SlurmHandle) -> dict[str, Any]:
        return {"job_id": handle.job_id}

    async def adopt(self, spec: LaunchSpec, reference: dict[str, Any]) -> SlurmHandle | None:
        job_id = str(reference.get("job_id") or "")
        if not job_id:
            return None
        try:
            job = await self._job(job_id)
        except RuntimeError as exc:
            if gone(exc):
                return None
            raise  # the controller did not answer: whether it runs is unknown
        if job.get("JobState", "UNKNOWN") in ENDED:
            return None
        return SlurmHandle(spec, job_id, self._log_path(spec))

    async def _job(self, job_id: str) -> dict[str, str]:
        return parse_fields(await self._run("scontrol", "show", "job", "-o", job_id))

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


def queued(job_id: str, job: dict[str, str]) -> str:
    """Why a queued job waits, as Slurm says it: "job 7 PENDING (Resources)"."""
    why = job.get("Reason", "None")
    return f"job {job_id} {job.get('JobState', 'UNKNOWN')}" + (f" ({why})" if why != "None" else "")
