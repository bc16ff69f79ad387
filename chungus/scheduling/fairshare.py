"""The order queued jobs are offered GPUs in (pure; no Django, no I/O).

Tier first (batch before background), then the job's own priority, then fair share: the
user holding the fewest GPUs (counting what this order has already handed out) goes next,
so one user's 500 queued jobs do not starve another's one; then age.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TIERS = {"batch": 0, "background": 1}  # lower runs first
JOB_FLOOR = -1_000_000_000  # every job ranks below every deployment in place()
TIER_STEP = 1_000_000


@dataclass(frozen=True, slots=True)
class QueuedJob:
    id: int
    owner: int
    tier: str
    priority: int
    gpus: int
    created: float  # Unix time


def placement_priority(tier: str, priority: int) -> int:
    """A job's priority as place() compares it: below deployments, background below batch."""
    return JOB_FLOOR - TIERS.get(tier, len(TIERS)) * TIER_STEP + priority


def tier_ceiling(tier: str) -> int:
    """Above every job of `tier`, below every job of the tiers above it: running work counted
    at it yields only to a higher tier, never to a higher rank in its own."""
    return placement_priority(tier, TIER_STEP // 2)


def fair_order(queued: Iterable[QueuedJob], holding: Mapping[int, int]) -> list[QueuedJob]:
    """`queued` in the order to offer them GPUs; `holding` is GPUs each user holds now."""
    usage = Counter(holding)
    groups: dict[tuple[int, int], dict[int, deque[QueuedJob]]] = {}
    for job in sorted(queued, key=lambda j: (j.created, j.id)):
        rank = (TIERS.get(job.tier, len(TIERS)), -job.priority)
        groups.setdefault(rank, {}).setdefault(job.owner, deque()).append(job)
    order: list[QueuedJob] = []
    for rank in sorted(groups):
        lines = groups[rank]
        heap = [(usage[owner], jobs[0].created, owner) for owner, jobs in lines.items()]
        heapq.heapify(heap)
        while heap:
            _, _, owner = heapq.heappop(heap)
            job = lines[owner].popleft()
            order.append(job)
            usage[owner] += max(job.gpus, 1)
            if lines[owner]:
                heapq.heappush(heap, (usage[owner], lines[owner][0].created, owner))
    return order
