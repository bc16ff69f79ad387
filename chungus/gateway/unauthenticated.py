"""Counting requests refused for their credentials (401), instead of logging a row for each.

Anyone can send requests without a valid key, as fast as they like: one request-log row per
such request would let them push real rows out of the log buffer and fill the disk. They are
counted instead, on /metrics (`chungus_unauthenticated_requests_total`, by reason) and in at
most one process-log line per `interval` seconds, which says how many came since the last one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter

logger = logging.getLogger("chungus.gateway")


class Unauthenticated:
    """Counts 401s by reason (the error code: a small fixed set, never the client's text)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.counter = Counter(
            "chungus_unauthenticated_requests",
            "Requests to /v1 refused because their API key was missing, wrong, revoked or expired",
            ["reason"],
            registry=registry,
        )
        self.interval = interval
        self.clock = clock
        self.since_last = 0  # refused since the last log line
        self._logged_at: float | None = None

    def record(self, reason: str) -> None:
        """Count one refused request; log a summary line when the last is `interval` old."""
        self.counter.labels(reason=reason).inc()
        self.since_last += 1
        now = self.clock()
        if self._logged_at is not None and now - self._logged_at < self.interval:
            return
        logger.warning(
            "refused %d request(s) without a valid API key since the last report (latest: %s)",
            self.since_last,
            reason,
        )
        self._logged_at, self.since_last = now, 0
