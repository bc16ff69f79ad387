"""Lifecycle states (deployments, replicas, backends, nodes) and the moves allowed between them.

Every state change goes through `transition(kind, old, new)`, which checks it against the
kind's table below and raises IllegalTransition if the table does not allow it. Database
writes check it in the UPDATE itself (`WHERE state IN predecessors(kind, new)`, see
StateQuerySet in models.py), so a process acting on an outdated reading cannot slip past.

Deployments (DeploymentState, stored in Deployment.state; written by the reconciler,
whose handlers in lifecycle/handlers/ act on each state, and by lifecycle/declare.py):

    deploy ─▶ pending ─▶ placing ─▶ starting ─▶ ready ─▶ draining ─▶ stopped
                 │                                                      │
                 │        failed ◀── crashed too often, cannot launch   │
                 └──── started again (a request, `start`, a redeploy) ◀─┘

    on the way up    pending, placing, starting and ready go to one another as replicas
                     wait for room, start, become ready, or restart
    on the way down  pending, placing, starting, ready ─▶ draining ─▶ stopped, or pending
                     to restart (new settings, CHUNGUS stopping)
    from anywhere    ─▶ stopped (the operator), failed, pending, starting (a process
                     that takes over finds rows as the last one left them)
    never            stopped, failed, draining ─▶ placing, ready (they start again first);
                     stopped, failed ─▶ draining (nothing of them runs)

Replicas (ReplicaState, in memory: the Supervisor of one engine process; the launcher's
poll answers, LaunchState in launchers/base.py, are what it observes):

    pending ─▶ starting ◀─▶ placing            (placing: queued by its cluster)
    starting, placing ─▶ ready                 (its health check passed)
    starting, placing, ready ─▶ restarting     (it ended, failed to launch, or timed out)
    restarting ─▶ starting                     (after a backoff)
    any ─▶ stopped                             (terminated; it stays stopped)

Backends (BackendHealth, stored in Backend.health by each serving process's health
monitor; its circuit breaker, gateway/routing/breaker.py, also has a probing state that
is never recorded):

    unknown ─▶ healthy ◀─▶ unhealthy         (never unknown again)

Jobs (JobState, stored in Job.state; written by the job scheduler, fleet/jobs/scheduler.py,
and by cancels from users):

    submit ─▶ queued ─▶ placing ─▶ running ─▶ succeeded | failed
                 ▲         │          │
                 │         │          ▼
                 └─────────┴──── preempting   (a deployment needs its GPU: SIGTERM, the job
                                              checkpoints and exits, back to queued)
    from queued, placing, running, preempting  ─▶ cancelled (a user), failed
    from placing, running                      ─▶ queued (the process that ran it ended;
                                                  it resumes from its checkpoint)
    never       out of succeeded, failed, cancelled (they are final)

Nodes (NodeSource, in memory: where the inventory read a node from) do not change:

    local     this host, read through NVML and psutil
    declared  from the declared inventory (CHUNGUS_INVENTORY)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, TypeVar

from django.db import models

E = TypeVar("E", bound=Enum)


class IllegalTransition(Exception):
    """A state change that its lifecycle's table does not allow."""

    def __init__(self, noun: str, old: object, new: object, subject: str = "") -> None:
        who = f"{noun} {subject!r}" if subject else f"a {noun}"
        super().__init__(self._message(who, old, new))
        self.noun, self.old, self.new, self.subject = noun, old, new, subject

    @staticmethod
    def _message(who: str, old: object, new: object) -> str:
        return f"{who} cannot go from {old} to {new}"


class UnknownState(IllegalTransition):
    """A value that is no state of its kind at all (a bug, or a row written by hand)."""

    @staticmethod
    def _message(who: str, old: object, new: object) -> str:
        return f"{new!r} is not a state of {who}"


class DeploymentState(models.TextChoices):
    """pending → placing → starting → ready → draining → stopped, or failed (reason says why)."""

    PENDING = "pending", "pending: waiting for room"
    PLACING = "placing", "placing"
    STARTING = "starting", "starting"
    READY = "ready", "ready"
    DRAINING = "draining", "draining"
    STOPPED = "stopped", "stopped"
    FAILED = "failed", "failed"


class JobState(models.TextChoices):
    """queued → placing → running → (preempting → queued) → succeeded | failed | cancelled."""

    QUEUED = "queued", "queued"
    PLACING = "placing", "placing"
    RUNNING = "running", "running"
    PREEMPTING = "preempting", "preempting"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


JOB_ACTIVE = frozenset({JobState.PLACING, JobState.RUNNING, JobState.PREEMPTING})  # hold a GPU
JOB_FINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class ReplicaState(StrEnum):
    PENDING = "pending"  # not launched yet
    STARTING = "starting"  # launched, not yet answering its health check
    PLACING = "placing"  # waiting for its cluster to give it resources
    READY = "ready"  # answering, and routed to
    RESTARTING = "restarting"  # ended; launched again after a backoff
    STOPPED = "stopped"  # terminated on request


class BackendHealth(models.TextChoices):
    HEALTHY = "healthy", "healthy"
    UNHEALTHY = "unhealthy", "unhealthy"
    UNKNOWN = "unknown", "unknown: not checked yet (in rotation)"


IN_ROTATION = frozenset({BackendHealth.HEALTHY, BackendHealth.UNKNOWN})  # routed to


class NodeSource(StrEnum):
    LOCAL = "local"  # this host
    DECLARED = "declared"  # from the declared inventory


@dataclass(frozen=True)
class Lifecycle:
    noun: str  # what the states are of, for messages
    allowed: Mapping[Any, frozenset[Any]]  # state -> the states it may go to


def _states(*states: Any) -> frozenset[Any]:
    return frozenset(states)


D, R, B, N, J = DeploymentState, ReplicaState, BackendHealth, NodeSource, JobState

# The tables: each state, and the states it may go to.
LIFECYCLES: dict[type[Enum], Lifecycle] = {
    DeploymentState: Lifecycle(
        "deployment",
        {
            D.PENDING: _states(*D),
            D.PLACING: _states(*D),
            D.STARTING: _states(*D),
            D.READY: _states(*D),
            D.DRAINING: _states(D.DRAINING, D.STOPPED, D.PENDING, D.STARTING, D.FAILED),
            D.STOPPED: _states(D.STOPPED, D.PENDING, D.STARTING, D.FAILED),
            D.FAILED: _states(D.FAILED, D.PENDING, D.STARTING, D.STOPPED),
        },
    ),
    ReplicaState: Lifecycle(
        "replica",
        {
            R.PENDING: _states(R.STARTING, R.STOPPED),
            R.STARTING: _states(R.STARTING, R.PLACING, R.READY, R.RESTARTING, R.STOPPED),
            R.PLACING: _states(R.PLACING, R.STARTING, R.READY, R.RESTARTING, R.STOPPED),
            R.READY: _states(R.RESTARTING, R.STOPPED),
            R.RESTARTING: _states(R.STARTING, R.STOPPED),
            R.STOPPED: _states(R.STOPPED),
        },
    ),
    BackendHealth: Lifecycle(
        "backend health",
        {
            B.UNKNOWN: _states(B.HEALTHY, B.UNHEALTHY),
            B.HEALTHY: _states(B.HEALTHY, B.UNHEALTHY),
            B.UNHEALTHY: _states(B.HEALTHY, B.UNHEALTHY),
        },
    ),
    JobState: Lifecycle(
        "job",
        {
            J.QUEUED: _states(J.QUEUED, J.PLACING, J.RUNNING, J.CANCELLED, J.FAILED),
            J.PLACING: _states(
                J.PLACING, J.RUNNING, J.PREEMPTING, J.QUEUED, J.SUCCEEDED, J.FAILED, J.CANCELLED
            ),
            J.RUNNING: _states(
                J.RUNNING, J.PREEMPTING, J.QUEUED, J.SUCCEEDED, J.FAILED, J.CANCELLED
            ),
            J.PREEMPTING: _states(J.PREEMPTING, J.QUEUED, J.SUCCEEDED, J.FAILED, J.CANCELLED),
            J.SUCCEEDED: _states(),
            J.FAILED: _states(),
            J.CANCELLED: _states(),
        },
    ),
    NodeSource: Lifecycle("node", {N.LOCAL: _states(N.LOCAL), N.DECLARED: _states(N.DECLARED)}),
}


def transition(kind: type[E], old: str, new: str, subject: str = "") -> E:
    """Return `new` as a `kind` state if `kind`'s table allows going to it from `old`.

    `subject` names what changes (a deployment's name) in the error. Raises
    IllegalTransition, or UnknownState for a value that is no `kind` state.
    """
    lifecycle = LIFECYCLES[kind]
    before, after = _member(kind, old, subject), _member(kind, new, subject)
    if after not in lifecycle.allowed[before]:
        raise IllegalTransition(lifecycle.noun, before, after, subject)
    return after


def predecessors(kind: type[E], new: str) -> frozenset[E]:
    """The `kind` states from which `new` may be reached (for a conditional UPDATE)."""
    after = _member(kind, new)
    return frozenset(s for s, nexts in LIFECYCLES[kind].allowed.items() if after in nexts)


def values(states: Iterable[Enum]) -> list[str]:
    """The stored values of `states`, sorted (for queries and messages)."""
    return sorted(str(s.value) for s in states)


def _member(kind: type[E], value: str, subject: str = "") -> E:
    try:
        return kind(value)
    except ValueError:
        raise UnknownState(LIFECYCLES[kind].noun, value, value, subject) from None
