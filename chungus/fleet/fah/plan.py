"""What the Folding@Home keeper does this tick (pure; no Django, no I/O).

One job per GPU set (one GPU each: Folding@Home gives every GPU a work unit of its own,
and a deployment or batch job that needs one GPU then stops one client, not all), as many
as the operator allows and this node has GPUs. The jobs are background-tier jobs: the
scheduler places them on GPUs nothing else wants and preempts them for anything else.
The keeper only keeps their number right:

    disabled                      cancel every live client job
    a client started with an      cancel it (its replacement is created at once and
    older setting (user, team)    waits for the GPU it frees)
    more than wanted              cancel the surplus, queued ones first
    fewer than wanted             create the missing ones, unless one ended by itself
                                  (crashed, refused to start) less than BACKOFF ago
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BACKOFF_SECONDS = 60.0
QUEUED = "queued"


@dataclass(frozen=True, slots=True)
class ClientJob:
    id: int
    state: str  # a live state: queued, placing, running, preempting
    spec: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Want:
    enabled: bool
    spec: dict[str, Any]
    limit: int | None  # the most GPUs folding at once; None: all of them


@dataclass(frozen=True, slots=True)
class Plan:
    create: int = 0
    cancel: list[int] = field(default_factory=list)
    waiting: str = ""  # why missing clients are not created now


def target(want: Want, gpus_here: int) -> int:
    """How many clients should exist."""
    if not want.enabled:
        return 0
    return gpus_here if want.limit is None else min(want.limit, gpus_here)


def plan(want: Want, gpus_here: int, live: list[ClientJob], ended_alone_ago: float | None) -> Plan:
    """`live`: the client jobs not yet final; `ended_alone_ago`: seconds since the last one
    that ended without being cancelled (None if none did)."""
    wanted = target(want, gpus_here)
    stale = [j.id for j in live if j.spec != want.spec] if want.enabled else [j.id for j in live]
    current = [j for j in live if j.id not in stale]
    # Surplus: queued ones first (they hold nothing), then the newest.
    surplus = sorted(current, key=lambda j: (j.state != QUEUED, -j.id))[
        : max(0, len(current) - wanted)
    ]
    missing = max(0, wanted - len(current))
    if missing and ended_alone_ago is not None and ended_alone_ago < BACKOFF_SECONDS:
        left = BACKOFF_SECONDS - ended_alone_ago
        why = f"a client ended by itself {ended_alone_ago:.0f} s ago; trying again in {left:.0f} s"
        return Plan(0, stale + [j.id for j in surplus], why)
    return Plan(missing, stale + [j.id for j in surplus])
