"""Supervised background loops: restarted with backoff after an exception, watched for a heartbeat.

A Loop is a name, a factory of the coroutine to run (called again for each restart) and,
for loops that should make progress every so often, how long without a heartbeat means
stuck. The loop's code calls `beat()` once per unit of work; the heartbeat it stamps is
the one of the loop whose task runs it (a context variable, so the loop's code needs no
handle on its supervisor and code run outside a supervised loop beats nothing).

    Loops.start(loops)   one task per loop, each restarted after an exception
    Loops.report()       per loop: ok | restarting | dead | stuck, for /readyz
    Loops.stop()         cancel them all and wait for them
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("chungus")

DEAD_AFTER_FAILURES = 3  # in a row, without a heartbeat between them: reported dead
HEALTHY_RUN_S = 60.0  # a run this long without failing counts as healthy (for loops without beats)


@dataclass(frozen=True, slots=True)
class Loop:
    name: str
    run: Callable[[], Awaitable[None]]  # a fresh coroutine for each (re)start
    stale_after: float | None = None  # seconds without a beat that mean stuck; None: not watched


@dataclass(slots=True)
class LoopStatus:
    """What the supervisor knows of one loop (read by /readyz)."""

    name: str
    stale_after: float | None
    started: float = field(default_factory=time.monotonic)
    last_beat: float | None = None
    restarts: int = 0
    failures: int = 0  # in a row, since the last heartbeat
    last_error: str = ""
    waiting: bool = False  # in the backoff before a restart
    ended: bool = False  # its task is gone: cancelled or something the supervisor missed

    def beat(self, now: float | None = None) -> None:
        self.last_beat = time.monotonic() if now is None else now
        self.failures = 0


_CURRENT: contextvars.ContextVar[LoopStatus | None] = contextvars.ContextVar(
    "chungus_supervised_loop", default=None
)


def beat() -> None:
    """Stamp the heartbeat of the supervised loop running this code (nothing outside one)."""
    status = _CURRENT.get()
    if status is not None:
        status.beat()


def backoff_delay(failures: int, base: float = 1.0, cap: float = 60.0) -> float:
    """The wait before restart number `failures`: 1, 2, 4, … seconds, capped."""
    return float(min(cap, base * 2 ** max(0, failures - 1)))


def verdict(status: LoopStatus, now: float) -> str:
    """ok, restarting (waiting to be restarted after a failure), dead or stuck."""
    if status.ended or (status.waiting and status.failures >= DEAD_AFTER_FAILURES):
        return "dead"
    if status.waiting:
        return "restarting"
    if status.stale_after is not None:
        since = max(status.last_beat or 0.0, status.started)  # a restart gets a fresh start
        if now - since > status.stale_after:
            return "stuck"
    return "ok"


async def supervise(
    loop: Loop, status: LoopStatus, *, base: float = 1.0, cap: float = 60.0
) -> None:
    """Run `loop` until cancelled, restarting it with backoff whenever it raises or returns."""
    _CURRENT.set(status)  # this task's own context: beats from its code land here
    try:
        while True:
            try:
                await loop.run()
                error = "returned"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = type(exc).__name__  # /readyz is public: the kind only; the log has it all
                logger.exception("background loop %s failed", loop.name)
            if time.monotonic() - status.started >= HEALTHY_RUN_S:
                status.failures = 0  # it ran well for a while: the backoff starts over
            status.failures += 1
            status.restarts += 1
            status.last_error = error[:500]
            delay = backoff_delay(status.failures, base, cap)
            logger.warning("background loop %s %s; restarting in %.0f s", loop.name, error, delay)
            status.waiting = True
            await asyncio.sleep(delay)
            status.waiting = False
            status.started = time.monotonic()
    finally:
        status.ended = True


class Loops:
    """A set of supervised loops, started together and stopped together."""

    def __init__(self, *, base: float = 1.0, cap: float = 60.0) -> None:
        self.base, self.cap = base, cap
        self.statuses: dict[str, LoopStatus] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, loops: Iterable[Loop]) -> None:
        for loop in loops:
            status = LoopStatus(loop.name, loop.stale_after)
            self.statuses[loop.name] = status
            # create_task copies the context: each loop's _CURRENT is its own.
            task = asyncio.create_task(
                supervise(loop, status, base=self.base, cap=self.cap), name=f"loop:{loop.name}"
            )
            self.tasks.append(task)

    def report(self, now: float | None = None) -> dict[str, dict[str, Any]]:
        """Per loop: its verdict, restarts, last error and seconds since its heartbeat."""
        now = time.monotonic() if now is None else now
        report = {}
        for name, status in self.statuses.items():
            entry: dict[str, Any] = {"state": verdict(status, now), "restarts": status.restarts}
            if status.last_beat is not None:
                entry["beat_age_s"] = round(now - status.last_beat, 1)
            if status.last_error:
                entry["last_error"] = status.last_error
            report[name] = entry
        return report

    def healthy(self, now: float | None = None) -> bool:
        """No loop dead or stuck (one waiting to restart after a failure still counts)."""
        now = time.monotonic() if now is None else now
        return all(verdict(s, now) in ("ok", "restarting") for s in self.statuses.values())

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
