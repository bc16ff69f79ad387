"""Circuit breaker per backend: out of rotation on failure, back after a trial (pure).

closed ──failures >= threshold or refused──▶ open ──cooldown──▶ half-open
  ▲                                       ▲                    │
  └──────────────── success ──────────────┴──── failure ───────┘
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Health(StrEnum):
    HEALTHY = "healthy"  # closed: in rotation
    UNHEALTHY = "unhealthy"  # open: out of rotation until the cooldown ends
    PROBING = "probing"  # half-open: one trial request or probe decides
    UNKNOWN = "unknown"  # not checked yet; in rotation


@dataclass(slots=True)
class Breaker:
    threshold: int = 3
    base_cooldown: float = 1.0
    max_cooldown: float = 30.0
    state: Health = Health.UNKNOWN
    failures: int = 0
    trips: int = 0
    open_until: float = 0.0
    reason: str = ""
    trial_out: bool = False

    def available(self, now: float) -> bool:
        """True when a request may go to this backend now."""
        if self.state in (Health.HEALTHY, Health.UNKNOWN):
            return True
        if self.state is Health.UNHEALTHY and now >= self.open_until:
            self.state = Health.PROBING
            self.trial_out = False
        return self.state is Health.PROBING and not self.trial_out

    def taken(self) -> None:
        """A request was sent; in half-open state it is the one trial."""
        if self.state is Health.PROBING:
            self.trial_out = True

    def success(self) -> bool:
        """Record a success; True when this put the backend back in rotation."""
        back = self.state in (Health.UNHEALTHY, Health.PROBING)
        self.state, self.failures, self.trips, self.reason = Health.HEALTHY, 0, 0, ""
        self.trial_out = False
        return back

    def failure(self, now: float, reason: str, *, fatal: bool = False) -> bool:
        """Record a failure (fatal: the backend is certainly down, e.g. connection refused);
        True when this took the backend out of rotation."""
        self.failures += 1
        self.reason = reason
        was_out = self.state is Health.UNHEALTHY
        if fatal or self.state is Health.PROBING or self.failures >= self.threshold:
            self.trips += 1
            cooldown = min(self.max_cooldown, self.base_cooldown * 2 ** (self.trips - 1))
            self.state, self.open_until, self.trial_out = Health.UNHEALTHY, now + cooldown, False
            return not was_out
        return False
