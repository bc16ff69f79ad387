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
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chungus.engines.base import LaunchSpec
from chungus.fleet.launchers.base import Launcher, LaunchState, LaunchStatus
from chungus.fleet.launchers.local import healthy, log_file_path, starting, tail
from chungus.lib.child_env import NEVER, child_env

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
# Slurm sets these for the GPUs it allocated: the submitting host's values must not win.
SLURM_SETS = ("CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
              "GPU_DEVICE_ORDINAL")  # fmt: skip
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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


def sbatch_value(what: str, value: str) -> str:
    """A value for an #SBATCH line: refused if it holds a control character (a newline
    would start a line of its own), double-quoted as sbatch reads quotes unless plain."""
    if _CONTROL.search(value):
        raise ValueError(f"the Slurm {what} {value[:80]!r} holds a control character")
    if _PLAIN.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def script_env(spec: LaunchSpec, parent: Mapping[str, str]) -> dict[str, str]:
    """What the batch script exports: the allowed part of the submitting environment
    (chungus.lib.child_env) except what Slurm sets for its GPUs, then the spec's."""
    inherited = child_env(parent, {}, spec.pass_env)
    return {**{k: v for k, v in inherited.items() if k not in SLURM_SETS}, **spec.env}


def submit_env(parent: Mapping[str, str]) -> dict[str, str]:
    """The environment sbatch runs in, which the job inherits: the allow-list, and Slurm's own
    settings for sbatch (SLURM_*, SBATCH_*)."""
    slurm = {k: v for k, v in parent.items() if k.startswith(("SLURM_", "SBATCH_"))}
    return {**child_env(parent, {}), **slurm}


def job_script(
    spec: LaunchSpec, options: SlurmOptions, log_path: Path, env: Mapping[str, str] | None = None
) -> str:
    """Render the batch script that runs the engine or job (pure): every value quoted, none
    able to start a line; `env` (default: the spec's own) is all the job's environment.

    Raises ValueError for a value no quoting makes safe (a control character in an #SBATCH
    value, a variable name that is not one)."""
    log = str(log_path).replace("%", "%%")  # Slurm would read %j, %u… in --output
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={sbatch_value('job name', f'chungus-{spec.name}')}",
        f"#SBATCH --output={sbatch_value('log path', log)}",
        "#SBATCH --no-requeue",  # CHUNGUS restarts an engine itself; a requeue would duplicate it
        # The environment sbatch runs in, which CHUNGUS cuts to the allow-list (submit_env).
        # Not NONE: Slurm 22.05 would then load the user's login environment first, a second
        # late, and a SIGTERM sent meanwhile is lost.
        "#SBATCH --export=ALL",
    ]
    if spec.is_job:
        lines.append("#SBATCH --open-mode=append")  # a resumed job writes to the same log
        if spec.cwd:
            lines.append(f"#SBATCH --chdir={sbatch_value('directory', spec.cwd)}")
        cores = spec.env.get("CHUNGUS_CPU_CORES", "")
        if cores.isdigit() and int(cores) > 1:
            lines.append(f"#SBATCH --cpus-per-task={int(cores)}")
    if spec.gpus:
        lines.append(f"#SBATCH --gres=gpu:{len(spec.gpus)}")
    if options.partition:
        lines.append(f"#SBATCH --partition={sbatch_value('partition', options.partition)}")
    if options.account:
        lines.append(f"#SBATCH --account={sbatch_value('account', options.account)}")
    if options.time_limit:
        lines.append(f"#SBATCH --time={sbatch_value('time limit', options.time_limit)}")
    for extra in options.extra:  # the operator's own options, whole: only one line each
        if _CONTROL.search(extra):
            raise ValueError(f"the Slurm option {extra[:80]!r} holds a control character")
        lines.append(f"#SBATCH {extra}")
    lines.append("unset " + " ".join(sorted(NEVER)))  # whatever a node or a profile sets
    for name, value in (spec.env if env is None else env).items():
        if not _VARIABLE.fullmatch(name):
            raise ValueError(f"{name[:80]!r} is not an environment variable name")
        lines.append(f"export {name}={shlex.quote(value)}")
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
        return log_file_path(self.log_dir, spec, "-slurm")

    async def launch(self, spec: LaunchSpec) -> SlurmHandle:
        log_path = self._log_path(spec)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        script = job_script(spec, self.options, log_path, script_env(spec, os.environ))
        output = await self._run("sbatch", "--parsable", stdin=script, env=submit_env(os.environ))
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
            said = await asyncio.to_thread(tail, handle.log_path)  # a network disk may block
            return LaunchStatus(LaunchState.EXITED, detail=f"job {handle.job_id} {state}\n{said}")
        if state != "RUNNING":  # queued (PENDING, CONFIGURING): Slurm is finding room
            return LaunchStatus(LaunchState.PLACING, detail=queued(handle.job_id, job))
        host = await self._node_address(job.get("BatchHost") or job.get("NodeList", ""))
        address = f"http://{host}:{handle.spec.port}"
        if await healthy(address + handle.spec.health_path, handle.spec.api_key):
            return LaunchStatus(LaunchState.READY, address=address)
        detail = f"job {handle.job_id} running on {host}; engine loading"
        return await asyncio.to_thread(starting, detail, handle.log_path)  # reads its log

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
            handle.ended = await self._exited(handle, state, code)
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
                return await self._exited(handle, *found)
        return await self._exited(handle, "gone from the controller (exit code unknown)", None)

    async def _exited(self, handle: SlurmHandle, state: str, code: int | None) -> LaunchStatus:
        detail = f"job {handle.job_id} {state}"
        if code is not None:
            detail += f", exit code {code}"
        said = await asyncio.to_thread(tail, handle.log_path)  # a network disk may block
        return LaunchStatus(LaunchState.EXITED, detail=f"{detail}\n{said}", exit_code=code)

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
        log_path = self._log_path(spec)
        if not await asyncio.to_thread(log_path.exists) and job.get("StdOut"):  # an older CHUNGUS
            log_path = Path(job["StdOut"])  # named its log after the deployment: Slurm knows
        return SlurmHandle(spec, job_id, log_path)

    async def _job(self, job_id: str) -> dict[str, str]:
        return parse_fields(await self._run("scontrol", "show", "job", "-o", job_id))

    async def _node_address(self, node: str) -> str:
        try:
            fields = parse_fields(await self._run("scontrol", "show", "node", "-o", node))
        except RuntimeError:
            return node
        return fields.get("NodeAddr") or node

    async def _run(
        self, *command: str, stdin: str | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**(os.environ if env is None else env), **self.options.env},
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
