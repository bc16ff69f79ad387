"""The local launcher: engines as child processes of this CHUNGUS."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import psutil

from chungus.engines.base import LaunchSpec
from chungus.fleet.launchers.base import Launcher, LaunchState, LaunchStatus
from chungus.lib.child_env import child_env
from chungus.lib.children import die_with_parent
from chungus.lib.names import check_name


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 20) -> str:
    """Return the last lines of a log file, for failure reasons."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16_384))
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def log_file_path(log_dir: Path, spec: LaunchSpec, suffix: str = "") -> Path:
    """Where an engine's or a job's output goes: the spec's log_path, which its maker built
    from ids (a job's directory, a deployment's id), else `log_dir`/NAME`suffix`.log for a
    spec CHUNGUS named itself (the default model); raises ValueError for a name that is not
    a valid name (chungus.lib.names), so none reaches a path."""
    if spec.log_path:
        return Path(spec.log_path)
    check_name("engine", spec.name)
    return log_dir / f"{spec.name.replace('/', '_')}{suffix}.log"


def open_log(path: Path) -> IO[bytes]:
    """Open a log for appending; created readable by CHUNGUS's user only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def engine_env(spec: LaunchSpec, parent: Mapping[str, str]) -> dict[str, str]:
    """The child's environment (chungus.lib.child_env), pinned to the spec's GPUs."""
    env = child_env(parent, spec.env, spec.pass_env)
    if spec.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in spec.gpus)
    elif spec.is_job:
        env["CUDA_VISIBLE_DEVICES"] = ""  # a job without GPUs must not use any
    return env


# llama.cpp starts each log line with the time since start and a level: "0.01.752.055 I "
LOG_PREFIX = re.compile(r"^\d+\.\d+\.\d+\.\d+ [A-Z] ")


def progress(path: Path, lines: int = 5) -> str:
    """The engine's latest log line, shown while it starts (loading, downloading)."""
    latest = [line.strip() for line in tail(path, lines).splitlines() if line.strip()]
    if not latest:
        return ""
    return " ".join(LOG_PREFIX.sub("", latest[-1]).split())[:200]


def starting(detail: str, log_path: Path) -> LaunchStatus:
    """STARTING with what the engine last said, where it said anything."""
    said = progress(log_path)
    return LaunchStatus(LaunchState.STARTING, detail=f"{detail}: {said}" if said else detail)


@dataclass(slots=True)
class LocalHandle:
    spec: LaunchSpec
    process: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]
    stopped: bool = False


@dataclass(slots=True)
class AdoptedHandle:
    """A job's process that an earlier CHUNGUS process started (found by pid and start time)."""

    spec: LaunchSpec
    process: psutil.Process
    stopped: bool = False


class LocalLauncher(Launcher):
    name = "local"

    def __init__(self, log_dir: Path, host: str = "127.0.0.1", stop_timeout: float = 10.0) -> None:
        self.log_dir = log_dir
        self.host = host
        self.stop_timeout = stop_timeout

    async def launch(self, spec: LaunchSpec) -> LocalHandle:
        log_path = log_file_path(self.log_dir, spec)
        log_file = await asyncio.to_thread(open_log, log_path)  # a slow disk may block
        process = await asyncio.create_subprocess_exec(
            *spec.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
            env=engine_env(spec, os.environ),
            cwd=spec.cwd or None,
            start_new_session=True,  # a Ctrl-C in our terminal is ours to pass on, not theirs
            # and if CHUNGUS is killed, its engines end too (a job gets SIGTERM: it checkpoints)
            preexec_fn=die_with_parent,
        )
        return LocalHandle(spec, process, log_path, log_file)

    async def poll(self, handle: LocalHandle | AdoptedHandle) -> LaunchStatus:
        if isinstance(handle, AdoptedHandle):
            if not _alive(handle.process):
                detail = "exited (adopted: exit code unknown)"
                return LaunchStatus(LaunchState.EXITED, detail=detail)
            if handle.spec.is_job:
                return LaunchStatus(LaunchState.RUNNING, host=self.host)
            address = f"http://{self.host}:{handle.spec.port}"  # an adopted engine
            if await healthy(address + handle.spec.health_path, handle.spec.api_key):
                return LaunchStatus(LaunchState.READY, address=address)
            return LaunchStatus(LaunchState.STARTING, detail="adopted; waiting for health")
        if handle.stopped and not handle.spec.is_job:  # a job's exit code says how it ended
            return LaunchStatus(LaunchState.STOPPED)
        code = handle.process.returncode
        if code is not None:
            return LaunchStatus(
                LaunchState.EXITED,
                detail=f"exit code {code}\n{await asyncio.to_thread(tail, handle.log_path)}",
                exit_code=code,
            )
        if handle.spec.is_job:
            return LaunchStatus(LaunchState.RUNNING, host=self.host)
        address = f"http://{self.host}:{handle.spec.port}"
        if await healthy(address + handle.spec.health_path, handle.spec.api_key):
            return LaunchStatus(LaunchState.READY, address=address)
        # Reading its log may block (a slow or network disk): off the event loop.
        return await asyncio.to_thread(starting, "waiting for the health check", handle.log_path)

    async def terminate(
        self, handle: LocalHandle | AdoptedHandle, grace: float | None = None
    ) -> None:
        handle.stopped = True
        grace = self.stop_timeout if grace is None else grace
        if isinstance(handle, AdoptedHandle):
            await _end_adopted(handle.process, grace)
            return
        process = handle.process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        if not handle.log_file.closed:
            handle.log_file.close()

    def reference(self, handle: LocalHandle | AdoptedHandle) -> dict[str, Any]:
        pid = handle.process.pid
        try:
            started = psutil.Process(pid).create_time()
        except psutil.Error:
            started = 0.0
        return {"pid": pid, "started": started, "host": socket.gethostname()}

    async def adopt(self, spec: LaunchSpec, reference: dict[str, Any]) -> AdoptedHandle | None:
        if reference.get("host") != socket.gethostname() or not reference.get("pid"):
            return None
        try:
            process = psutil.Process(int(reference["pid"]))
            same = abs(process.create_time() - float(reference.get("started", 0))) < 0.01
            if same and _alive(process):
                return AdoptedHandle(spec, process)
        except (psutil.Error, ValueError, TypeError):
            pass
        return None


async def _end_adopted(process: psutil.Process, grace: float) -> None:
    """SIGTERM the process group of a process that is not our child, then SIGKILL after grace."""
    with contextlib.suppress(psutil.Error, ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = asyncio.get_running_loop().time() + grace
    while _alive(process):
        if asyncio.get_running_loop().time() > deadline:
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            break
        await asyncio.sleep(0.1)


async def healthy(url: str, api_key: str = "") -> bool:
    """True when GET url answers 200 within two seconds (sending the engine's key, if any)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    try:
        timeout = aiohttp.ClientTimeout(total=2)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as response,
        ):
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
