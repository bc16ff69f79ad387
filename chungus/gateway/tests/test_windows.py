"""Limit counters in process memory, on a clock the tests move; the Redis kind against the
real Redis, for the same answers."""

import os
import time
import uuid

import pytest

from chungus.gateway.ratelimit import make_storage
from chungus.gateway.windows import HOUR, MINUTE, LocalWindows, SharedWindows

REDIS_URL = os.environ.get("CHUNGUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Clock:
    def __init__(self, now: float = 6000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_request_window_counts_up_to_its_amount():
    windows = LocalWindows(Clock())
    assert [await windows.hit_request("k", 3, MINUTE) for _ in range(4)] == [True] * 3 + [False]
    assert await windows.hit_request("other", 3, MINUTE), "each ident counts on its own"


async def test_the_last_windows_share_falls_as_the_next_one_passes():
    clock = Clock(6000.0)  # a window starts (6000 = 100 minutes)
    windows = LocalWindows(clock)
    for _ in range(10):
        assert await windows.hit_request("k", 10, MINUTE)
    clock.now += 60  # next window: the last one still weighs in full
    assert not await windows.hit_request("k", 10, MINUTE)
    stats = await windows.request_stats("k", 10, MINUTE)
    assert stats.remaining == 0
    assert stats.reset == pytest.approx(6060 + 6)  # 10 * (1 - 0.1) + 1 fits after 6 s
    clock.now += 30  # half way: the last window counts 5
    assert [await windows.hit_request("k", 10, MINUTE) for _ in range(6)] == [True] * 5 + [False]
    clock.now += 120  # two windows later nothing is left of either
    assert (await windows.request_stats("k", 10, MINUTE)).remaining == 10


async def test_a_window_full_on_its_own_says_when_the_next_one_lets_a_request_in():
    clock = Clock(7200.0)
    windows = LocalWindows(clock)
    for _ in range(4):
        await windows.hit_request("k", 4, HOUR)
    stats = await windows.request_stats("k", 4, HOUR)
    # The next hour, once this one's 4 weigh 3 or less: a quarter into it.
    assert stats.reset == pytest.approx(7200 + 3600 + 900)


async def test_the_token_window_lasts_a_minute_from_its_first_use():
    clock = Clock(1000.0)
    windows = LocalWindows(clock)
    assert await windows.add_tokens("k", 100, 60) == 60
    assert await windows.token_window_end("k", 100) == 1060
    assert await windows.add_tokens("k", 100, 50) == 110
    assert not await windows.tokens_left("k", 100)
    assert (await windows.token_stats("k", 100)).remaining == 0
    assert await windows.add_tokens("k", 100, -20) == 90
    assert await windows.tokens_left("k", 100)
    clock.now = 1060
    assert await windows.add_tokens("k", 100, 5) == 5, "a new window"
    assert await windows.token_window_end("k", 100) == 1120


async def test_shared_windows_in_redis_answer_as_the_local_ones_do():
    shared = SharedWindows(make_storage(REDIS_URL), f"test-{uuid.uuid4()}")
    assert [await shared.hit_request("k", 2, MINUTE) for _ in range(3)] == [True, True, False]
    assert (await shared.request_stats("k", 2, MINUTE)).remaining == 0
    assert await shared.add_tokens("k", 100, 120) == 120
    assert not await shared.tokens_left("k", 100)
    assert await shared.add_tokens("k", 100, -30) == 90
    assert await shared.tokens_left("k", 100)
    assert (await shared.token_stats("k", 100)).remaining == 10
    assert 0 < await shared.token_window_end("k", 100) - time.time() <= 60
