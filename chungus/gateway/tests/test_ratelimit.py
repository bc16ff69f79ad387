"""Per-key limits, with counters in process memory or in Redis."""

import asyncio
import os
import uuid

import pytest

from chungus.accounts.keyinfo import KeyInfo
from chungus.gateway.ratelimit import RateLimiter, make_storage
from chungus.gateway.windows import LocalWindows, SharedWindows
from chungus.lib.openai_errors import RateLimited

REDIS_URL = os.environ.get("CHUNGUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def limiter_for(url: str = "", namespace: str = "") -> RateLimiter:
    if not url:
        return RateLimiter(LocalWindows())
    return RateLimiter(SharedWindows(make_storage(url), namespace or f"test-{uuid.uuid4()}"))


def key(**limits):
    return KeyInfo(id=abs(hash(uuid.uuid4())) % 10**9, name="k", **limits)


async def test_it_admits_up_to_the_request_limit_then_says_when_to_retry():
    limiter = RateLimiter(LocalWindows())
    k = key(rpm=2)
    await limiter.admit(k)
    await limiter.admit(k)
    with pytest.raises(RateLimited) as error:
        await limiter.admit(k)
    headers = error.value.headers
    assert error.value.status == 429
    # A sliding window: the next minute lets one in once this one's 2 weigh 1, half way in.
    assert 1 <= int(headers["Retry-After"]) <= 90
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"


async def test_it_charges_tokens_after_the_fact_and_then_refuses():
    limiter = RateLimiter(LocalWindows())
    k = key(tpm=100)
    await limiter.admit(k)
    await limiter.charge_tokens(k, 150)
    with pytest.raises(RateLimited) as error:
        await limiter.admit(k)
    assert error.value.headers["x-ratelimit-limit-tokens"] == "100"


async def test_a_key_without_limits_is_never_limited():
    limiter = RateLimiter(LocalWindows())
    k = key()
    for _ in range(100):
        await limiter.admit(k)


async def test_two_limiters_sharing_redis_enforce_one_limit():
    namespace = f"test-{uuid.uuid4()}"
    first = limiter_for(REDIS_URL, namespace)
    second = limiter_for(REDIS_URL, namespace)
    k = key(rpm=3)
    await first.admit(k)
    await second.admit(k)
    await first.admit(k)
    with pytest.raises(RateLimited):
        await second.admit(k)


def test_it_refuses_a_redis_url_it_cannot_use():
    with pytest.raises(ValueError, match="redis://"):
        make_storage("http://localhost:6379")


def storages():
    return [pytest.param("", id="memory"), pytest.param(REDIS_URL, id="redis")]


@pytest.mark.parametrize("url", storages())
async def test_ten_concurrent_requests_cannot_overshoot_the_token_limit(url):
    limiter = limiter_for(url)
    k = key(tpm=1000)
    used = 300  # each request uses what it reserved, or a little more (the estimate was low)

    async def request():
        await limiter.admit(k)
        reservation = await limiter.reserve(k, 280)
        await asyncio.sleep(0.01)  # all ten are in flight together
        await limiter.settle(reservation, used)
        return used

    results = await asyncio.gather(*(request() for _ in range(10)), return_exceptions=True)
    admitted = [r for r in results if not isinstance(r, BaseException)]
    assert all(isinstance(r, RateLimited) for r in results if isinstance(r, BaseException))
    assert 1 <= len(admitted) <= 3
    assert sum(admitted) <= 1000 + used  # over by at most one request
    with pytest.raises(RateLimited) as error:
        await limiter.reserve(k, 1000 - sum(admitted) + 1)
    assert error.value.headers["x-ratelimit-limit-tokens"] == "1000"


@pytest.mark.parametrize("url", storages())
async def test_unused_reserved_tokens_are_given_back(url):
    limiter = limiter_for(url)
    k = key(tpm=1000)
    reservation = await limiter.reserve(k, 900)
    with pytest.raises(RateLimited):
        await limiter.reserve(k, 200)  # 900 + 200 do not fit
    await limiter.settle(reservation, 50)
    await limiter.reserve(k, 900)  # 50 + 900 do


@pytest.mark.parametrize("url", storages())
async def test_a_refused_reservation_takes_nothing(url):
    limiter = limiter_for(url)
    k = key(tpm=1000)
    await limiter.reserve(k, 600)
    for _ in range(5):
        with pytest.raises(RateLimited):
            await limiter.reserve(k, 500)
    await limiter.reserve(k, 400)  # the refused ones left no trace


async def test_a_request_larger_than_the_limit_reserves_the_whole_limit():
    limiter = RateLimiter(LocalWindows())
    k = key(tpm=1000)
    reservation = await limiter.reserve(k, 5000)  # alone in its window: it runs
    assert reservation.tokens == 1000
    with pytest.raises(RateLimited):
        await limiter.reserve(k, 1)


async def test_a_refund_after_the_window_ended_lends_the_next_window_nothing():
    windows = LocalWindows()
    limiter = RateLimiter(windows)
    k = key(tpm=1000)
    reservation = await limiter.reserve(k, 800)
    windows.reset()  # its window ended, a minute ago
    reservation.window_reset -= 60
    await limiter.reserve(k, 100)
    await limiter.settle(reservation, 0)  # 800 back would leave the window at -700
    await limiter.reserve(k, 900)
    with pytest.raises(RateLimited):
        await limiter.reserve(k, 1)
