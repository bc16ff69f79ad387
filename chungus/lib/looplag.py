"""A loop-lag probe: how late the event loop wakes a task that sleeps a fixed short time.

A late wake-up is time some callback held the loop: a blocking call on it delays every
request it serves by as much. The probe keeps the last `window` samples (milliseconds
late), cheap enough to run in every process and show on /readyz: ten wake-ups a second
by default (a minute of samples), as each wake-up costs the idle process CPU (at 100 a
second the probe was most of an idle server's 34 ms of CPU a second).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `samples` (0.0 when empty)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


class LoopLag:
    """Sleeps `interval` seconds again and again, recording how late each wake-up is."""

    def __init__(self, interval: float = 0.1, window: int = 600) -> None:
        self.interval = interval
        self.samples: deque[float] = deque(maxlen=window)

    async def run(self) -> None:
        """Probe until cancelled."""
        clock = time.perf_counter
        while True:
            asked = clock()
            await asyncio.sleep(self.interval)
            self.samples.append(max(0.0, (clock() - asked - self.interval) * 1000))

    def reset(self) -> None:
        self.samples.clear()

    def p99_ms(self) -> float:
        return percentile(list(self.samples), 0.99)

    def max_ms(self) -> float:
        return max(self.samples, default=0.0)

    def report(self) -> dict[str, float]:
        """The window's p99 and worst lag in milliseconds, and how many samples it holds."""
        samples = list(self.samples)
        return {
            "lag_p99_ms": round(percentile(samples, 0.99), 2),
            "lag_max_ms": round(max(samples, default=0.0), 2),
            "samples": len(samples),
        }
