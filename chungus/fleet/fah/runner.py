"""Runs one Folding@Home client for a fah job: `python -m chungus.fleet.fah.runner`.

Started by the local launcher in the job's directory with CUDA_VISIBLE_DEVICES set to the
job's GPUs. It starts the client (`--binary`) with its config file and a control port of
its own (several clients on one host must not share 7396), gives it one resource group
over those GPUs (control.py), removes the config file (the passkey) once the client has
read it, and waits. SIGTERM (preempted, cancelled, CHUNGUS stopping) is passed to the
client, whose clean exit keeps its work unit's checkpoint; after `--stop-seconds` (inside
the job's grace period) the client is killed, and so is any process it started that still
runs (a core in a process group of its own would outlive the launcher's SIGKILL and keep
the GPU). The runner then exits 75 (resumable): the job goes back to the queue and starts
again, in the same directory, on the next idle GPU.

Exit codes: 75 stopped on request; 1 the client could not start or be configured (said in
error.json); else the client's own exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

from chungus.fleet.fah import control
from chungus.fleet.jobs.kinds.base import ERROR_FILE, PROGRESS_FILE, RESUMABLE, write_json
from chungus.lib.children import die_with_parent

READY_SECONDS = 60.0  # for the client to answer on its control port
FIRST = asyncio.FIRST_COMPLETED


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(line: str) -> None:
    print(f"chungus-fah: {line}", flush=True)


async def configure(port: int, group: str, cpus: int) -> list[str]:
    """Wait for the client's control port, then give it the job's group; its GPU ids."""
    url = f"http://127.0.0.1:{port}/api/websocket"
    deadline = time.monotonic() + READY_SECONDS
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while True:
            try:
                async with session.ws_connect(url) as ws:
                    state = await ws.receive_json(timeout=10)
                    gpus = control.our_gpus(state)
                    if gpus:
                        await ws.send_json(control.configure(group, cpus, gpus))
                        await ws.send_json(control.fold(group))
                    return gpus
            except (aiohttp.ClientError, OSError, TimeoutError, TypeError, ValueError) as exc:
                if time.monotonic() > deadline:
                    why = f"no answer on its control port within {READY_SECONDS:g} s"
                    raise TimeoutError(why) from exc
                await asyncio.sleep(0.2)


@dataclass(frozen=True, slots=True)
class Setup:
    port: int  # the client's control port
    group: str
    cpus: int
    visible: str  # CUDA_VISIBLE_DEVICES
    config: Path


async def run(binary: str, config: Path, cpus: int, stop_seconds: float) -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    group, port = control.group_name(visible), free_port()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    argv = [binary, f"--config={config}", f"--http-addresses=127.0.0.1:{port}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(cpus)}
    try:
        process = await asyncio.create_subprocess_exec(*argv, env=env, preexec_fn=die_with_parent)
    except OSError as exc:
        config.unlink(missing_ok=True)
        return fail(f"cannot start the Folding@Home client {binary}: {exc.strerror or exc}")
    say(f"started {binary} (pid {process.pid}) for GPU(s) {visible or 'none'}, group {group}")
    client = Client(process, stop_seconds)
    try:
        return await follow(client, stop, Setup(port, group, cpus, visible, config))
    finally:
        config.unlink(missing_ok=True)


@dataclass
class Client:
    """The client's process and every process it started that the runner has seen (its
    cores, which may run in process groups of their own and so outlive a group's SIGKILL)."""

    process: asyncio.subprocess.Process
    stop_seconds: float  # SIGTERM to SIGKILL, within the job's own grace period
    seen: dict[int, psutil.Process] = field(default_factory=dict)

    def look(self) -> None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.seen.setdefault(child.pid, child)

    async def end(self) -> int:
        """SIGTERM it, SIGKILL it after stop_seconds, then anything it left running."""
        self.look()
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), self.stop_seconds)
        except TimeoutError:
            say(f"the client did not exit within {self.stop_seconds:g} s: SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            code = await self.process.wait()
        self.sweep()
        return code

    def sweep(self) -> None:
        """SIGKILL the processes it started that still run (is_running checks the pid was
        not reused)."""
        for process in self.seen.values():
            with contextlib.suppress(psutil.Error):
                if process.is_running():
                    say(f"ending process {process.pid}, left running by the client")
                    process.kill()


async def follow(client: Client, stop: asyncio.Event, setup: Setup) -> int:
    """Set the client up, then wait for a stop or its own exit; the runner's exit code."""
    exited = asyncio.ensure_future(client.process.wait())
    stopped = asyncio.ensure_future(stop.wait())
    configuring = asyncio.ensure_future(configure(setup.port, setup.group, setup.cpus))
    await asyncio.wait({exited, stopped, configuring}, return_when=FIRST)
    if not configuring.done():
        configuring.cancel()
    elif not stopped.done() and not exited.done():
        problem = configuring.exception()
        gpus = [] if problem else configuring.result()
        setup.config.unlink(missing_ok=True)  # read: the passkey leaves the disk
        if problem or not gpus:
            await client.end()
            found = f"it found no CUDA GPU (CUDA_VISIBLE_DEVICES={setup.visible})"
            return fail(f"the Folding@Home client could not be set up: {problem or found}")
        folding(setup, gpus)
        while not (exited.done() or stopped.done()):
            client.look()  # its cores, to end them too if it leaves them behind
            await asyncio.wait({exited, stopped}, timeout=1.0, return_when=FIRST)
    if stopped.done():
        say("asked to stop: stopping the client (it keeps its work unit's checkpoint)")
        code = await client.end()
        say(f"the client exited ({code}); resumable")
        return RESUMABLE
    code = exited.result()
    say(f"the client exited by itself with code {code}")
    client.sweep()
    return code if code >= 0 else 128 - code  # killed by a signal: as a shell says it


def folding(setup: Setup, gpus: list[str]) -> None:
    Path(ERROR_FILE).unlink(missing_ok=True)
    say(f"folding: group {setup.group} over the client's GPU(s) {', '.join(gpus)}")
    summary = f"folding on GPU {setup.visible} (group {setup.group})"
    said = {"phase": "folding", "group": setup.group, "gpus": setup.visible, "fah_gpus": gpus}
    write_json(Path(PROGRESS_FILE), {**said, "since": time.time(), "summary": summary})


def fail(message: str) -> int:
    say(message)
    write_json(Path(ERROR_FILE), {"message": message})
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="chungus-fah-runner", description="Run one Folding@Home client for a fah job."
    )
    parser.add_argument("--binary", required=True, help="fah-client (CHUNGUS_FAH_BINARY)")
    parser.add_argument("--config", type=Path, required=True, help="its config.xml")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs of the GPU set's group")
    parser.add_argument(
        "--stop-seconds", type=float, default=1.5, help="SIGTERM to SIGKILL of the client"
    )
    args = parser.parse_args(argv)
    return asyncio.run(run(args.binary, args.config, args.cpus, args.stop_seconds))


if __name__ == "__main__":
    sys.exit(main())
