"""Shared by the benchmarks: the processes they start, the cores they run on, running one safely."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Check = Callable[[], Awaitable[str | None]]  # None when ready, else why not
Popen = subprocess.Popen[bytes]


class Processes:
    """Subprocesses started by the bench, each in its own process group, stopped together."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Popen] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Popen:
        """Start a process in its own group, stdout to <name>.out and stderr to <name>.log."""
        with (
            open(self.log_dir / f"{name}.log", "wb") as log,
            open(self.log_dir / f"{name}.out", "wb") as out,
        ):
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        self.started.append(proc)
        return proc

    async def run(self, name: str, argv: list[str], env: dict[str, str], timeout: float) -> str:
        """Run a command to its end without blocking the loop; return its stdout."""
        proc = self.start(name, argv, env)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        out = (self.log_dir / f"{name}.out").read_text(errors="replace")
        if proc.returncode is None:
            raise RuntimeError(f"{shlex.join(argv)} still running after {timeout:.0f} s")
        if proc.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(argv)} failed ({proc.returncode}):\n{out}{self.tail(name)}"
            )
        return out

    def tail(self, name: str, lines: int = 30) -> str:
        """The last lines a process wrote to stdout and stderr."""
        text = "".join(
            (self.log_dir / f"{name}.{ext}").read_text(errors="replace") for ext in ("out", "log")
        )
        return "\n".join(text.splitlines()[-lines:])

    def stop_all(self) -> None:
        """SIGTERM each group we started, then SIGKILL what is left after 10 s."""
        self.stop(self.started)

    def stop(self, procs: Iterable[Popen]) -> None:
        """SIGTERM these processes' groups, then SIGKILL what is left after 10 s."""
        alive = [p for p in procs if p.poll() is None]
        for proc in alive:
            os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in alive:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@dataclass(frozen=True)
class Pinning:
    """Which cores the load generator (with the fake upstream) and each target run on.

    Off when `client` is empty; `why` then says why. Targets may share a core: the
    overhead bench measures them one at a time, so they never compete for it while measured.
    """

    client: tuple[int, ...] = ()
    targets: dict[str, int] = field(default_factory=dict)
    why: str = ""

    @property
    def on(self) -> bool:
        return bool(self.client)

    def wrap(self, argv: list[str], cores: Iterable[int]) -> list[str]:
        """`argv` under `taskset -c cores` (visible in ps), or unchanged when pinning is off."""
        return ["taskset", "-c", ",".join(map(str, cores)), *argv] if self.on else argv

    def target_argv(self, name: str, argv: list[str]) -> list[str]:
        """A target's command line on its own core."""
        return self.wrap(argv, [self.targets[name]]) if self.on else argv

    def describe(self) -> str:
        """One line: who runs on which core, or why pinning is off."""
        if not self.on:
            return f"pinning off: {self.why}"
        by_core: dict[int, list[str]] = {}
        for name, core in self.targets.items():
            by_core.setdefault(core, []).append(name)
        plural = "s" if len(self.client) > 1 else ""
        parts = [f"load generator + fake upstream on core{plural} {cores_text(self.client)}"]
        parts += [f"{', '.join(names)} on core {core}" for core, names in sorted(by_core.items())]
        shared = (
            " (targets sharing a core are measured one at a time)"
            if any(len(names) > 1 for names in by_core.values())
            else ""
        )
        return "pinning: " + "; ".join(parts) + shared


def cores_text(cores: Iterable[int]) -> str:
    """Cores as taskset writes them: 0,2,3."""
    return ",".join(map(str, cores))


def plan_pinning(cores: Iterable[int], targets: list[str], wanted: bool | None) -> Pinning:
    """Give each target its own core if there are enough, else share the non-client ones.

    The first core goes to the load generator and the fake upstream; so do any cores
    left over once every target has one. `wanted` None means: pin if there are 2+ cores.
    """
    ordered = sorted(cores)
    if wanted is False:
        return Pinning(why="--no-pin")
    if len(ordered) < 2:
        return Pinning(why=f"only {len(ordered)} core available to this process")
    if shutil.which("taskset") is None:
        return Pinning(why="taskset not found (util-linux)")
    spare = ordered[1:]
    placed = {name: spare[i % len(spare)] for i, name in enumerate(targets)}
    client = [ordered[0], *spare[len(targets) :]]
    return Pinning(tuple(client), placed)


def pin_this_process(cores: Iterable[int]) -> None:
    """Move every thread of this process (not only the caller) onto `cores`."""
    wanted = set(cores)
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), wanted)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [c for c, ppid in parents.items() if ppid == parent and c not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(p, 0.0) for p in tree)


def run_main(
    parse: Callable[[], argparse.Namespace],
    body: Callable[[argparse.Namespace, Processes, Path], Awaitable[None]],
) -> None:
    """Run `body` under asyncio, always stopping what it started (also on Ctrl-C, SIGTERM)."""
    args = parse()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    tmp = Path(tempfile.mkdtemp(prefix="chungus-bench-"))
    procs = Processes(tmp)

    async def guarded() -> None:
        task, loop = asyncio.current_task(), asyncio.get_running_loop()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        await body(args, procs, tmp)

    code = 0
    try:
        runner: Callable[[Any], None] = asyncio.run
        with contextlib.suppress(ImportError):
            import uvloop  # the load generator runs leaner on it, as the engines' clients do

            runner = uvloop.run
        runner(guarded())
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        code = 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # cleanup must not be cut short
        procs.stop_all()
        if args.keep_temp:
            print(f"logs and CHUNGUS_HOME kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(code)
