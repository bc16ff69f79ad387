"""Rate-limit storage: process memory or Redis."""

import os
import uuid

import pytest

from chungus.accounts.keyinfo import KeyInfo
from chungus.gateway.ratelimit import RateLimiter, make_storage
from chungus.lib.openai_errors import RateLimited

REDIS_URL = os.environ.get("CHUNGUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def key(**limits):
    return KeyInfo(id=abs(hash(uuid.uuid4())) % 10**9, name="k", **limits)


async def test_it_admits_up_to_the_request_limit_then_says_when_to_retry():
    limiter = RateLimiter(make_storage(""))
    k = key(rpm=2)
    await limiter.admit(k)
    await limiter.admit(k)
    with pytest.raises(RateLimited) as error:
        await limiter.admit(k)
    headers = error.value.headers
    assert error.value.status == 429
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"


async def test_it_charges_tokens_after_the_fact_and_then_refuses():
    limiter = RateLimiter(make_storage(""))
    k = key(tpm=100)
    await limiter.admit(k)
    await limiter.charge_tokens(k, 150)
    with pytest.raises(RateLimited) as error:
        await limiter.admit(k)
    assert error.value.headers["x-ratelimit-limit-tokens"] == "100"


async def test_a_key_without_limits_is_never_limited():
    limiter = RateLimiter(make_storage(""))
    k = key()
    for _ in range(100):
        await limiter.admit(k)


async def test_two_limiters_sharing_redis_enforce_one_limit():
    namespace = f"test-{uuid.uuid4()}"
    first = RateLimiter(make_storage(REDIS_URL), namespace=namespace)
    second = RateLimiter(make_storage(REDIS_URL), namespace=namespace)
    k = key(rpm=3)
    await first.admit(k)
    await second.admit(k)
    await first.admit(k)
    with pytest.raises(RateLimited):
        await second.admit(k)


def test_it_refuses_a_redis_url_it_cannot_use():
    with pytest.raises(ValueError, match="redis://"):
        make_storage("http://localhost:6379")
