"""The one-line progress bar `chungus jobs show --follow` redraws (pure: no Django, no I/O)."""

from __future__ import annotations

import math
from typing import Any

from chungus.fleet.jobs.kinds.md.kind import duration

WIDTH = 24  # characters of the bar itself


def progress_line(
    state: str, reason: str, fraction: float, detail: dict[str, Any], summary: str = ""
) -> str:
    """`[#####-----]  42.0%  0.042/0.100 ns  41.2 ns/day  ETA 2 min  running: on gpu-01`.

    The ns figures come from an md job's progress detail; other kinds show their summary.
    """
    fraction = min(1.0, max(0.0, fraction if math.isfinite(fraction) else 0.0))
    filled = round(fraction * WIDTH)
    parts = [f"[{'#' * filled}{'-' * (WIDTH - filled)}]", f"{fraction * 100:5.1f}%"]
    done, total = _number(detail, "ns_done"), _number(detail, "ns_total")
    if done is not None and total is not None and detail.get("phase") in ("production", "done"):
        parts.append(f"{done:.3f}/{total:.3f} ns")
        speed = _number(detail, "ns_per_day")
        if speed is not None:
            parts.append(f"{speed:.1f} ns/day")
        eta = _number(detail, "eta_seconds")
        if eta is not None and state == "running":
            parts.append(f"ETA {duration(eta)}")
    elif summary:
        parts.append(summary)
    parts.append(said(state, reason))
    return "  ".join(parts)


def said(state: str, reason: str) -> str:
    """`running: on gpu-01`; a reason that starts with its state is not told twice."""
    if not reason or reason.startswith(state):
        return reason or state
    return f"{state}: {reason}"


def _number(detail: dict[str, Any], key: str) -> float | None:
    value = detail.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
