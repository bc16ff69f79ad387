"""Routing strategies: which backend of a model takes a request (pure).

Every strategy has one signature, `choose(candidates, request) -> Candidate | None`,
over candidates that are healthy and have room; it never sees the others.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Candidate:
    backend_id: int
    load: float  # requests in flight, or the engine's own count when it reports one
    full: bool = False  # every parallel slot the engine reports is taken: a request would queue


@dataclass(frozen=True, slots=True)
class RouteRequest:
    model: str
    prefixes: tuple[bytes, ...] = ()  # prompt-prefix hashes, shortest first (cache affinity)


class Strategy(Protocol):
    name: str

    def choose(self, candidates: Sequence[Candidate], request: RouteRequest) -> Candidate | None:
        """Return the backend for the request, or None when there is no candidate."""

    def served(self, backend_id: int, request: RouteRequest) -> None:
        """Note that `backend_id` took the request (strategies that learn use it)."""


def least_loaded(candidates: Sequence[Candidate]) -> Candidate | None:
    best: Candidate | None = None
    for candidate in candidates:
        if best is None or candidate.load < best.load:
            best = candidate
    return best


@dataclass
class LeastOutstanding:
    """The backend with the least work in flight (the default)."""

    name: str = "least-outstanding"

    def choose(self, candidates: Sequence[Candidate], request: RouteRequest) -> Candidate | None:
        return least_loaded(candidates)

    def served(self, backend_id: int, request: RouteRequest) -> None:
        pass


@dataclass
class RoundRobin:
    """Each backend in turn."""

    name: str = "round-robin"
    turn: int = 0

    def choose(self, candidates: Sequence[Candidate], request: RouteRequest) -> Candidate | None:
        if not candidates:
            return None
        ordered = sorted(candidates, key=lambda c: c.backend_id)
        choice = ordered[self.turn % len(ordered)]
        self.turn += 1
        return choice

    def served(self, backend_id: int, request: RouteRequest) -> None:
        pass


@dataclass
class CacheAffinity:
    """Send a prompt to the backend that served its longest known prefix, so its KV
    cache is reused — unless that backend is much busier than the rest (bounded load:
    at most `balance` times the mean load, plus one), or has no free slot while another
    has one (waiting for a whole answer costs more than recomputing a prefix)."""

    name: str = "cache-affinity"
    balance: float = 1.5
    capacity: int = 100_000
    owners: OrderedDict[bytes, int] = field(default_factory=OrderedDict)

    def choose(self, candidates: Sequence[Candidate], request: RouteRequest) -> Candidate | None:
        if not candidates:
            return None
        by_id = {c.backend_id: c for c in candidates}
        cap = math.floor(self.balance * sum(c.load for c in candidates) / len(candidates)) + 1
        room = not all(c.full for c in candidates)
        for prefix in reversed(request.prefixes):
            owner = by_id.get(self.owners.get(prefix, -1))
            if owner is not None and owner.load < cap and not (owner.full and room):
                return owner
        return least_loaded([c for c in candidates if not c.full] or candidates)

    def served(self, backend_id: int, request: RouteRequest) -> None:
        for prefix in request.prefixes:
            self.owners[prefix] = backend_id
            self.owners.move_to_end(prefix)
        while len(self.owners) > self.capacity:
            self.owners.popitem(last=False)


STRATEGIES = {
    "least-outstanding": LeastOutstanding,
    "round-robin": RoundRobin,
    "cache-affinity": CacheAffinity,
}


def make_strategy(name: str) -> Strategy:
    """Return a fresh strategy by name (each model has its own)."""
    factory = STRATEGIES.get(name)
    if factory is None:
        raise ValueError(f"unknown routing strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    return factory()
