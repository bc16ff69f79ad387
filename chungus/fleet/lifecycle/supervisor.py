"""Keeps one engine process running: launch, wait for health, restart with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chungus.engines.base import LaunchSpec
from chungus.fleet.launchers.base import Launcher, LaunchState, LaunchStatus
from chungus.fleet.states import ReplicaState, transition

logger = logging.getLogger("chungus.fleet")

OnReady = Callable[[str], Awaitable[None]]
OnLaunch = Callable[[dict[str, Any]], Awaitable[None]]  # the launcher's reference to the engine


def backoff_delay(failures: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Return the wait before restart number `failures` (1, 2, 4, … seconds, capped)."""
    return float(min(cap, base * 2 ** max(0, failures - 1)))


@dataclass(slots=True)
class SupervisorState:
    state: ReplicaState = ReplicaState.PENDING
    detail: str = ""
    address: str | None = None
    restarts: int = 0  # in all
    failures: int = 0  # in a row, since it last was healthy: what fails a deployment
    since: float = 0.0


class Supervisor:
    """Runs one LaunchSpec on a launcher for as long as `run()` is running."""

    def __init__(
        self,
        launcher: Launcher,
        spec: LaunchSpec,
        on_ready: OnReady,
        *,
        poll_interval: float = 0.25,
        ready_timeout: float = 120.0,
        backoff_cap: float = 30.0,
        adopt: dict[str, Any] | None = None,
        on_launch: OnLaunch | None = None,
    ) -> None:
        self.launcher = launcher
        self.spec = spec
        self.on_ready = on_ready
        self.adopt = adopt  # an engine an earlier process launched: taken over if it still runs
        self.on_launch = on_launch
        self.adopted = False
        self.poll_interval = poll_interval
        self.ready_timeout = ready_timeout
        self.backoff_cap = backoff_cap
        self.status = SupervisorState(since=time.monotonic())
        self.ready = asyncio.Event()
        self.last_exit = ""  # the full reason the engine last ended, log lines included
        self._handle: Any = None

    def _set(self, state: ReplicaState, detail: str = "", address: str | None = None) -> None:
        """Move to `state`, as the replica table in states.py allows (IllegalTransition if not)."""
        state = transition(ReplicaState, self.status.state, state, self.spec.name)
        self.status.state, self.status.detail, self.status.address = state, detail, address
        self.status.since = time.monotonic()

    async def run(self) -> None:
        """Keep the engine up until cancelled; then stop it."""
        try:
            while True:
                try:
                    ended = await self._run_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # sbatch refused, Ray unreachable, a database error
                    logger.exception("%s: the launcher failed", self.spec.name)
                    ended = LaunchStatus(LaunchState.EXITED, detail=f"{type(exc).__name__}: {exc}")
                await self._end_handle()  # an engine that ended may leave a job or a file behind
                self.last_exit = ended.detail
                # A crash after a healthy run starts the backoff over.
                failures = 1 if self.ready.is_set() else self.status.failures + 1
                self.status.failures = failures
                self.ready.clear()
                self.status.restarts += 1
                delay = backoff_delay(failures, cap=self.backoff_cap)
                reason = ended.detail.splitlines()[0] if ended.detail else "ended"
                self._set(ReplicaState.RESTARTING, f"{reason}; restarting in {delay:.0f} s")
                logger.warning(
                    "%s ended (%s); restarting in %.0f s", self.spec.name, ended.detail, delay
                )
                await asyncio.sleep(delay)
        finally:
            await self.stop()

    async def _run_once(self) -> LaunchStatus:
        self._set(ReplicaState.STARTING, "launching")
        if await self._adopt():
            logger.info("%s: adopted the engine an earlier process started", self.spec.name)
        else:
            launching = asyncio.ensure_future(self.launcher.launch(self.spec))
            try:
                self._handle = await asyncio.shield(launching)
            except asyncio.CancelledError:  # stopped mid-launch: what was launched is ended too
                with contextlib.suppress(Exception):
                    self._handle = await launching
                raise
            if self.on_launch is not None:
                await self.on_launch(self.launcher.reference(self._handle))
        deadline: float | None = None  # the ready timeout runs once the engine has its place
        while True:
            status = await self.launcher.poll(self._handle)
            if status.state is LaunchState.READY:
                break
            if status.state in (LaunchState.EXITED, LaunchState.STOPPED):
                return status
            if status.state is LaunchState.PLACING:  # queued for resources: no timeout
                deadline = None
                self._set(ReplicaState.PLACING, status.detail)
                await asyncio.sleep(self.poll_interval)
                continue
            deadline = deadline or time.monotonic() + self.ready_timeout
            if time.monotonic() > deadline:
                await self.launcher.terminate(self._handle)
                return LaunchStatus(
                    LaunchState.EXITED, detail=f"not healthy after {self.ready_timeout:.0f} s"
                )
            self._set(ReplicaState.STARTING, status.detail)
            await asyncio.sleep(self.poll_interval)
        assert status.address is not None
        await self.on_ready(status.address)
        self._set(ReplicaState.READY, "", status.address)
        self.ready.set()
        while True:
            await asyncio.sleep(max(self.poll_interval, 1.0))
            status = await self.launcher.poll(self._handle)
            if status.state in (LaunchState.EXITED, LaunchState.STOPPED):
                return status

    async def _adopt(self) -> bool:
        """Take over the engine named by `adopt` if it still runs (once, on the first start)."""
        reference, self.adopt = self.adopt, None
        if not reference:
            return False
        try:
            self._handle = await self.launcher.adopt(self.spec, reference)
        except Exception:  # its cluster did not answer: a fresh launch is what is left
            logger.exception("%s: adopting its engine failed", self.spec.name)
            self._handle = None
        self.adopted = self._handle is not None
        return self.adopted

    def detach(self) -> None:
        """Let go of the engine without ending it (another process takes it over); cancel
        run() after this."""
        self._handle = None

    async def _end_handle(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                await self.launcher.terminate(handle)
            except Exception:
                logger.exception("%s: terminating it failed", self.spec.name)

    async def stop(self) -> None:
        await self._end_handle()
        self._set(ReplicaState.STOPPED)
        self.ready.clear()
