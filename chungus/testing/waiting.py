"""Waiting in tests for a condition to hold, within a bound, instead of for a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, seconds: float = 10, every: float = 0.05) -> T:
    """Call `condition` until it returns something true, and return that; fail after `seconds`
    saying `what` was awaited and what the condition last returned."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: still {value!r} after {seconds} s")
        time.sleep(every)
    return value


async def wait_for_async(
    condition: Callable[[], T], what: str, seconds: float = 10, every: float = 0.01
) -> T:
    """wait_for for tests on the event loop: the loop runs while it waits."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: still {value!r} after {seconds} s")
        await asyncio.sleep(every)
    return value
