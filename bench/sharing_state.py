"""The sharing benchmark's state: what the simulator knows of replicas, jobs and the pool.

Plain data and small pure helpers; bench/sharing_sim.py moves it through time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from sharing_workload import JobSpec, Model

from chungus.fleet.lifecycle.drain import DrainPolicy, finished
from chungus.fleet.lifecycle.jobs.run import JobRun, job_of
from chungus.scheduling.placement import GIB, Cluster, Node, Work


@dataclass(frozen=True, slots=True)
class Knobs:
    """The costs the simulator charges; bench/sharing.py's options set them."""

    stop_s: float = 2.0  # SIGTERM to GPU free, for a job that checkpoints on SIGTERM
    grace_s: float = 30.0  # SIGTERM to SIGKILL
    killed_share: float = 0.0  # share of preemptions where the job ignores SIGTERM
    checkpoint_s: float = 600.0  # periodic checkpoints, every this much GPU work
    resume_s: float = 60.0  # a resumed attempt's start-up before it computes
    response_s: float = 8.0  # how long requests in flight take to finish (drains)
    engine_exit_s: float = 2.0  # a drained engine's exit until its GPU memory is free
    scale_down_s: float = 600.0  # demand below a replica this long before it stops
    backlog: int = 64  # queued replicas kept waiting (new ensembles submitted below it)
    stop_spread: float = 0.5  # each stop takes stop_s x uniform(1 - spread, 1 + spread)
    hold_freed: bool = False  # GPUs freed by a preemption wait for its deployment (CHUNGUS now)
    drain: DrainPolicy = field(default_factory=DrainPolicy)


@dataclass(frozen=True, slots=True)
class Pool:
    """GPUs one scheduler places on: everything (shared), or one side of a static split."""

    nodes: tuple[Node, ...]

    @property
    def gpus(self) -> int:
        return sum(len(n.gpus) for n in self.nodes)

    @property
    def whole_mb(self) -> int:
        return max((g.memory_mb for n in self.nodes for g in n.gpus), default=0)


class Phase(StrEnum):
    STOPPED = "stopped"
    PENDING = "pending"
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"


HOLDING = (Phase.STARTING, Phase.READY, Phase.DRAINING)


@dataclass(slots=True)
class Replica:
    """One replica of a model, run as a deployment of its own (so it starts and stops alone)."""

    model: Model
    index: int
    phase: Phase = Phase.STOPPED
    node: str = ""
    gpus: tuple[int, ...] = ()
    wanted_at: float = 0.0
    ready_at: float = -1.0
    judged_at: float = 0.0  # when its pending reason was last judged
    batch_blocked: bool = False  # it would fit now if no job held a GPU
    batch_wait: float = 0.0
    below_since: float = -1.0  # demand has not needed it since (scale-down)
    want_after_drain: float = -1.0  # asked for while it drained
    preempted_for: int = 0  # jobs preempted to make room for this start
    epoch: int = 0  # events of an earlier phase are stale

    @property
    def work_id(self) -> str:
        return f"{self.model.name}-{self.index}#0"

    @property
    def always_warm(self) -> bool:
        return self.model.always_warm and self.index == 0

    @property
    def memory_mb(self) -> int:
        return self.model.memory_gib * GIB

    def ask(self) -> Work:
        return Work(self.work_id, self.model.gpus, self.memory_mb, self.model.priority)


class JobPhase(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    DONE = "done"


@dataclass(slots=True)
class Job:
    spec: JobSpec
    submitted: float
    phase: JobPhase = JobPhase.QUEUED
    run: JobRun | None = None  # while it holds a GPU
    progress: float = 0.0  # GPU work saved (while queued), or at this attempt's start
    started: float = 0.0  # this attempt's start
    computes_from: float = 0.0  # after its resume start-up
    attempts: int = 0
    epoch: int = 0

    def progress_at(self, now: float) -> float:
        if self.phase is not JobPhase.RUNNING:
            return self.progress
        return min(self.spec.work_s, self.progress + max(0.0, now - self.computes_from))


@dataclass(frozen=True, slots=True)
class Start:
    """A replica start the demand asked for: how long it waited, and how much for batch."""

    model: str
    batch_wait: float
    wait: float


@dataclass(slots=True)
class Tally:
    inference_gpu_s: float = 0.0
    batch_gpu_s: float = 0.0
    recompute_s: float = 0.0
    overhead_s: float = 0.0
    preemptions: int = 0
    killed: int = 0
    extra_preemptions: int = 0  # beyond the fewest one node needed for the same ask
    peak_inference_gpus: int = 0
    starts: list[Start] = field(default_factory=list)
    useful_s: float = 0.0
    jobs_done: int = 0
    seconds: float = 0.0  # simulated: the whole run, or until a livelock stopped it
    livelock: str = ""  # what never started, when one did


def is_killed(n: int, share: float) -> bool:
    """Whether preemption n (from 0) is one where the job ignores SIGTERM: exactly `share`
    of them, spread evenly."""
    return math.floor((n + 1) * share) > math.floor(n * share)


def fewest_job_evictions(cluster: Cluster, ask: Work) -> int | None:
    """The fewest whole-GPU jobs any one node must give up for `ask` to fit (None: none can)."""
    best: int | None = None
    for cards in cluster.cards.values():
        fitting = sum(1 for c in cards if c.free >= ask.memory_mb)
        jobs = sum(1 for c in cards if _only_jobs(c.holders))
        if fitting + jobs >= ask.gpus:
            need = max(0, ask.gpus - fitting)
            best = need if best is None else min(best, need)
    return best


def _only_jobs(holders: list[Work]) -> bool:
    """A card that only preemptible jobs hold (each job holds a whole card)."""
    return bool(holders) and all(job_of(w.id) is not None and w.preemptible for w in holders)


def drain_seconds(in_flight: int, busy_s: float, policy: DrainPolicy) -> float:
    """How long drain.py's loop polls a replica whose `in_flight` requests end after busy_s."""
    elapsed = 0.0
    while finished(elapsed, in_flight if elapsed < busy_s else 0, policy) is None:
        elapsed += policy.poll
    return elapsed
