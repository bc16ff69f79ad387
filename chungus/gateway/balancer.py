"""Choosing a backend for a request and counting what is in flight."""

from __future__ import annotations

from collections.abc import Sequence

from chungus.gateway.errors import ServiceUnavailable
from chungus.gateway.snapshot import BackendInfo


def least_outstanding(
    backends: Sequence[BackendInfo], in_flight: dict[int, int]
) -> BackendInfo | None:
    """Return the backend with the fewest requests in flight that has room, if any."""
    best: BackendInfo | None = None
    best_load = 0
    for backend in backends:
        load = in_flight.get(backend.id, 0)
        if load >= backend.max_concurrency:
            continue
        if best is None or load < best_load:
            best, best_load = backend, load
    return best


class Balancer:
    """Tracks requests in flight per backend (in memory, per process)."""

    def __init__(self) -> None:
        self.in_flight: dict[int, int] = {}

    def acquire(self, model: str, backends: Sequence[BackendInfo]) -> BackendInfo:
        if not backends:
            raise ServiceUnavailable(
                f"The model '{model}' has no backend right now.", headers={"Retry-After": "5"}
            )
        backend = least_outstanding(backends, self.in_flight)
        if backend is None:
            raise ServiceUnavailable(
                f"Every backend of '{model}' is at its concurrency limit; retry shortly.",
                code="model_overloaded",
                headers={"Retry-After": "1"},
            )
        self.in_flight[backend.id] = self.in_flight.get(backend.id, 0) + 1
        return backend

    def release(self, backend: BackendInfo) -> None:
        self.in_flight[backend.id] = max(0, self.in_flight.get(backend.id, 1) - 1)
