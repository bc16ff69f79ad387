"""A job this process runs: its launcher handle and what placement needs to know of it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chungus.engines.base import LaunchSpec
from chungus.scheduling.fairshare import placement_priority, tier_ceiling
from chungus.scheduling.placement import Work

PREFIX = "job:"  # placement's work id of a job: "job:7"; a deployment's replica is "big#0"


def work_id(job_id: int) -> str:
    return f"{PREFIX}{job_id}"


def job_of(work: str) -> int | None:
    """The job id in a placement work id, None for a deployment's replica."""
    return int(work[len(PREFIX) :]) if work.startswith(PREFIX) else None


@dataclass
class JobRun:
    id: int
    owner: int
    kind: str
    tier: str
    priority: int
    launcher: str
    spec: LaunchSpec
    handle: Any
    workdir: Path
    node: str = ""
    gpus: tuple[int, ...] = ()
    memory_mb: int = 0  # per GPU, as placement counted it (a whole GPU: its memory)
    cpu_cores: int = 1
    grace: float = 30.0
    retries_left: int = 0  # failed attempts it may still run again from its checkpoint
    started: float = field(default_factory=time.monotonic)
    stopping: asyncio.Task[None] | None = None  # SIGTERM sent; ends when the process has
    preempted_by: str = ""  # what it makes room for, when preempted
    preempt_at: float = 0.0  # monotonic time of the placement decision that preempted it
    freed_at: float = 0.0  # monotonic time its process had ended (its GPUs free)
    cancelling: str = ""  # who cancelled it
    placed: bool = False  # its process runs (a cluster may still queue it: then False)
    shown: tuple[Any, ...] = ()  # the progress last written, to write only changes

    @property
    def placement_priority(self) -> int:
        return placement_priority(self.tier, self.priority)

    @property
    def holds_gpus(self) -> bool:
        """Whether placement must count its GPUs as taken (until its process has ended)."""
        return bool(self.gpus) and self.launcher == "local" and not self.freed_at

    @property
    def preemptible(self) -> bool:
        return self.stopping is None

    def work(self, *, by_deployment: bool) -> Work:
        """The job as placement counts it: preemptible by a deployment while it runs; by
        another job only if it is background work and the other a batch job (running work
        counted at its tier's ceiling yields to a higher tier, never to a higher rank)."""
        if by_deployment:
            rank, yields = self.placement_priority, self.preemptible
        else:
            yields = self.tier == "background" and self.preemptible
            rank = tier_ceiling(self.tier) if yields else self.placement_priority
        return Work(work_id(self.id), len(self.gpus), self.memory_mb, rank, yields)
