"""Placement: which GPUs each deployment or job gets (pure; no Django, no I/O).

    place(nodes, running, requests, policy) -> Decision(assignments, evictions, pending)

Work asks for `gpus` GPUs on one node with `memory_mb` free on each. GPUs are
shared by memory (several small models on one card, as llama-swap and Ollama
do), never beyond it. Requests are placed highest priority first. When one does
not fit, lower-priority preemptible work on a single node may be evicted to make
room, and the decision names exactly what; pending work gets the reason, in
words an operator can act on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

GIB = 1024


class Policy(StrEnum):
    BINPACK = "binpack"  # fill the fullest GPUs that still fit: keeps whole cards free
    SPREAD = "spread"  # use the emptiest GPUs: less contention per card


@dataclass(frozen=True, slots=True)
class Gpu:
    index: int
    memory_mb: int


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    gpus: tuple[Gpu, ...]


@dataclass(frozen=True, slots=True)
class Work:
    id: str
    gpus: int
    memory_mb: int  # per GPU
    priority: int = 0  # higher runs first and may evict lower
    preemptible: bool = False


@dataclass(frozen=True, slots=True)
class Assignment:
    work_id: str
    node: str
    gpu_indices: tuple[int, ...]


@dataclass(slots=True)
class Decision:
    assignments: list[Assignment] = field(default_factory=list)
    evictions: list[str] = field(default_factory=list)
    pending: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Card:
    node: str
    index: int
    total: int
    free: int
    holders: list[Work] = field(default_factory=list)


class Cluster:
    """Free memory per GPU, updated as work is placed or evicted."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self.cards: dict[str, list[_Card]] = {
            n.name: [_Card(n.name, g.index, g.memory_mb, g.memory_mb) for g in n.gpus]
            for n in nodes
        }
        self.where: dict[str, Assignment] = {}
        self.works: dict[str, Work] = {}

    def add(self, work: Work, assignment: Assignment) -> None:
        cards = self.cards[assignment.node]
        for index in assignment.gpu_indices:
            card = cards[index]
            card.free -= work.memory_mb
            card.holders.append(work)
        self.where[work.id] = assignment
        self.works[work.id] = work

    def remove(self, work_id: str) -> None:
        assignment = self.where.pop(work_id)
        work = self.works.pop(work_id)
        for index in assignment.gpu_indices:
            card = self.cards[assignment.node][index]
            card.free += work.memory_mb
            card.holders.remove(work)

    def fit(self, work: Work, policy: Policy) -> Assignment | None:
        """The best GPUs for `work` on one node, without evicting anything."""
        best: tuple[tuple[int, int], str, list[_Card]] | None = None
        sign = 1 if policy is Policy.BINPACK else -1
        for node, cards in self.cards.items():
            fitting = [c for c in cards if c.free >= work.memory_mb]
            if len(fitting) < work.gpus:
                continue
            fitting.sort(key=lambda c: (sign * c.free, c.index))
            chosen = fitting[: work.gpus]
            # binpack: the tightest cards on the fullest node; spread: the opposite
            score = (sign * sum(c.free for c in chosen), sign * sum(c.free for c in cards))
            if best is None or score < best[0]:
                best = (score, node, chosen)
        if best is None:
            return None
        return Assignment(work.id, best[1], tuple(sorted(c.index for c in best[2])))

    def largest_free(self) -> int:
        return max((c.free for cards in self.cards.values() for c in cards), default=0)


def place(
    nodes: Sequence[Node],
    running: Iterable[tuple[Work, Assignment]],
    requests: Iterable[Work],
    policy: Policy = Policy.BINPACK,
    allow_eviction: bool = True,
) -> Decision:
    """Place `requests` on the cluster around `running` work."""
    cluster = Cluster(nodes)
    for work, where in running:
        cluster.add(work, where)
    return decide(cluster, requests, policy, allow_eviction)


def decide(
    cluster: Cluster,
    requests: Iterable[Work],
    policy: Policy = Policy.BINPACK,
    allow_eviction: bool = True,
) -> Decision:
    """Place `requests` on a cluster state, applying the decision to it (for simulators
    and long-running schedulers that keep the state between decisions)."""
    decision = Decision()
    for work in sorted(requests, key=lambda w: -w.priority):
        assignment = cluster.fit(work, policy)
        if assignment is None and allow_eviction:
            assignment = _evict_for(cluster, work, policy, decision)
        if assignment is None:
            decision.pending[work.id] = pending_reason(cluster, work)
            continue
        cluster.add(work, assignment)
        decision.assignments.append(assignment)
    return decision


def _evict_for(
    cluster: Cluster, work: Work, policy: Policy, decision: Decision
) -> Assignment | None:
    """Evict the cheapest set of lower-priority preemptible work on one node that makes room."""
    best: tuple[tuple[int, int], str, list[str]] | None = None
    for node, cards in cluster.cards.items():
        victims = sorted(
            {
                w.id: w
                for c in cards
                for w in c.holders
                if w.preemptible and w.priority < work.priority
            }.values(),
            key=lambda w: (w.priority, -w.memory_mb),
        )
        if not victims:
            continue
        chosen: list[str] = []
        for victim in victims:
            chosen.append(victim.id)
            if _room(cluster, cards, chosen, work):
                # Keep only the victims it needs: the ones after a helpful one may not help.
                for spared in reversed(chosen[:-1]):
                    if _room(cluster, cards, [v for v in chosen if v != spared], work):
                        chosen.remove(spared)
                cost = (sum(cluster.works[v].priority for v in chosen), len(chosen))
                if best is None or cost < best[0]:
                    best = (cost, node, list(chosen))
                break
    if best is None:
        return None
    for victim_id in best[2]:
        cluster.remove(victim_id)
        decision.evictions.append(victim_id)
        decision.assignments = [a for a in decision.assignments if a.work_id != victim_id]
    return cluster.fit(work, policy)


def _room(cluster: Cluster, cards: list[_Card], victims: list[str], work: Work) -> bool:
    """Whether `work` fits on these cards once `victims` are gone."""
    freed = {c.index: c.free for c in cards}
    for victim in victims:
        for index in cluster.where[victim].gpu_indices:
            freed[index] += cluster.works[victim].memory_mb
    return sum(1 for free in freed.values() if free >= work.memory_mb) >= work.gpus


def pending_reason(cluster: Cluster, work: Work) -> str:
    """Why `work` cannot be placed now, in an operator's words."""
    need = f"{work.memory_mb / GIB:.1f} GiB"
    if not any(cluster.cards.values()):
        return "no GPUs in the inventory"
    largest_node = max(len(cards) for cards in cluster.cards.values())
    if work.gpus > largest_node:
        return f"needs {work.gpus} GPUs on one node; the largest node has {largest_node}"
    largest = cluster.largest_free()
    if largest < work.memory_mb:
        each = "each of " if work.gpus > 1 else ""
        free = f"{largest / GIB:.1f} GiB"
        return f"needs {need} on {each}{work.gpus} GPU(s), largest free GPU has {free}"
    return f"needs {work.gpus} GPUs with {need} free each on one node; no node has that many free"
