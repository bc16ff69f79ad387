"""Sign-in throttling: how long a caller must wait, from the times of recent failures (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_user: int  # failures for one username within the window
    per_ip: int  # failures from one address within the window
    window_s: float


def wait_seconds(failures: Sequence[float], limit: int, window_s: float, now: float) -> int:
    """Seconds until fewer than `limit` of these failure times lie in the window (0: none)."""
    recent = sorted(t for t in failures if t > now - window_s)
    if len(recent) < limit:
        return 0
    # The oldest failure that keeps the count at the limit must leave the window first.
    leaving = recent[len(recent) - limit]
    return max(1, math.ceil(leaving + window_s - now))


def retry_after(
    by_user: Sequence[float], by_ip: Sequence[float], limits: LoginLimits, now: float
) -> int:
    """Seconds the next attempt must wait, by username and by address (0: it may go ahead)."""
    return max(
        wait_seconds(by_user, limits.per_user, limits.window_s, now),
        wait_seconds(by_ip, limits.per_ip, limits.window_s, now),
    )
