"""Latency histograms with fixed log-spaced buckets, merged by adding counts.

A histogram is a list of counts. Bucket 0 holds [0, BOUNDS[0]) ms, bucket i holds
[BOUNDS[i-1], BOUNDS[i]) ms and the last bucket everything from BOUNDS[-1] up. Four
buckets per doubling from 1 ms to 2**20 ms (about 17 minutes) keep a percentile read
from merged histograms within one bucket (19%) of the exact value, usually within 10%.
Lists may be shorter than SIZE (trailing zeros are trimmed before they are stored).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

BOUNDS: tuple[float, ...] = tuple(2 ** (i / 4) for i in range(81))
SIZE = len(BOUNDS) + 1


def bucket_of(value_ms: float) -> int:
    """The index of the bucket that counts `value_ms`."""
    return bisect.bisect_right(BOUNDS, value_ms)


def record(counts: list[int], value_ms: float) -> None:
    """Count one value into `counts`, growing the list as needed."""
    index = bucket_of(value_ms)
    if index >= len(counts):
        counts.extend([0] * (index + 1 - len(counts)))
    counts[index] += 1


def merge(into: list[int], other: Sequence[int]) -> None:
    """Add `other`'s counts into `into`, growing it as needed."""
    if len(other) > len(into):
        into.extend([0] * (len(other) - len(into)))
    for index, count in enumerate(other):
        if count:
            into[index] += count


def trimmed(counts: Sequence[int]) -> list[int]:
    """The counts without trailing zeros, as they are stored."""
    end = len(counts)
    while end and not counts[end - 1]:
        end -= 1
    return list(counts[:end])


def percentile(counts: Sequence[int], q: float) -> float | None:
    """Estimate the q-quantile (0..1) in ms, interpolating inside its bucket; None when empty."""
    total = sum(counts)
    if not total:
        return None
    target = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= target:
            fraction = min(1.0, max(0.0, (target - seen) / count))
            if index == 0:
                return BOUNDS[0] * fraction
            if index >= len(BOUNDS):
                return BOUNDS[-1]  # open-ended: the bound is all we know
            low, high = BOUNDS[index - 1], BOUNDS[index]
            return float(low * (high / low) ** fraction)  # geometric: buckets are log-spaced
        seen += count
    return BOUNDS[-1]  # unreachable: q <= 1 always lands in a bucket
