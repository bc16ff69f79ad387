"""How far a batch is and when it should end, from its counts and its running time (pure)."""

from __future__ import annotations

import math

UNKNOWN = "—"


def fraction(total: int, done: int) -> float:
    """The share of its lines that are done (completed or failed), 0 to 1; 0 with no lines."""
    if total <= 0:
        return 0.0
    return max(0.0, min(1.0, done / total))


def eta_seconds(total: int, done: int, elapsed: float) -> float | None:
    """Seconds left at the rate so far (done lines per second since it began to run): the
    lines left over that rate; None while no rate is known, or when nothing is left."""
    left = total - done
    if left <= 0 or done <= 0 or elapsed <= 0:
        return None
    return left / (done / elapsed)


def duration_words(seconds: float | None) -> str:
    """A wait in words: "40 s" (seconds rounded up), "2 min", "3 h 5 min" (to the nearest
    minute); "—" for None."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return UNKNOWN
    whole = math.ceil(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes = math.floor(whole / 60 + 0.5)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
