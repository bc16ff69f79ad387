"""A job this process runs: its launcher handle and what placement needs to know of it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chungus.engines.base import LaunchSpec
from chungus.scheduling.fairshare import placement_priority


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
