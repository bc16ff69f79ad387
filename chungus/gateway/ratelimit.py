"""Per-key request and token limits, backed by the `limits` library.

Counters live in process memory by default and in Redis when REDIS_URL is set,
so several CHUNGUS processes enforce one limit together.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from chungus.accounts.keyinfo import KeyInfo
from chungus.lib.openai_errors import RateLimited


@dataclass(frozen=True, slots=True)
class _Window:
    label: str  # "requests" or "tokens", as in OpenAI's header names
    item: RateLimitItem


def make_storage(redis_url: str) -> Storage:
    """Return Redis-backed storage for a redis:// URL, else process memory."""
    if not redis_url:
        return MemoryStorage()
    scheme, sep, rest = redis_url.partition("://")
    if not sep or scheme not in ("redis", "rediss"):
        raise ValueError(f"REDIS_URL must start with redis:// or rediss://, got {redis_url!r}")
    storage = storage_from_string(f"async+{scheme}://{rest}")
    assert isinstance(storage, Storage)
    return storage


class RateLimiter:
    """Checks a key's limits before a request and charges its tokens after."""

    def __init__(self, storage: Storage, namespace: str = "chungus") -> None:
        self.storage = storage
        self.namespace = namespace
        # A sliding counter smooths window edges for request limits; tokens are
        # charged after the fact, which a fixed window counts even past the limit.
        self.requests = SlidingWindowCounterRateLimiter(storage)
        self.tokens = FixedWindowRateLimiter(storage)
        self._pending: set[asyncio.Future[None]] = set()

    async def admit(self, key: KeyInfo) -> None:
        """Count one request against the key, or raise RateLimited."""
        if key.tpm:
            window = _Window("tokens", RateLimitItemPerMinute(key.tpm))
            if not await self.tokens.test(window.item, self.namespace, key.bucket or str(key.id)):
                raise await self._limited(window, key, self.tokens)
        for window in _request_windows(key):
            if not await self.requests.hit(window.item, self.namespace, key.bucket or str(key.id)):
                raise await self._limited(window, key, self.requests)

    async def charge_tokens(self, key: KeyInfo, tokens: int) -> None:
        """Record tokens a finished request used."""
        if key.tpm and tokens > 0:
            item = RateLimitItemPerMinute(key.tpm)
            await self.tokens.hit(item, self.namespace, key.bucket or str(key.id), cost=tokens)

    def charge_later(self, key: KeyInfo, tokens: int) -> None:
        """Charge tokens in the background so finishing a response never waits on storage."""
        task = asyncio.ensure_future(self.charge_tokens(key, tokens))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _limited(
        self,
        window: _Window,
        key: KeyInfo,
        limiter: SlidingWindowCounterRateLimiter | FixedWindowRateLimiter,
    ) -> RateLimited:
        stats = await limiter.get_window_stats(
            window.item, self.namespace, key.bucket or str(key.id)
        )
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        per = window.item.GRANULARITY.name
        headers = {
            "Retry-After": str(retry_after),
            f"x-ratelimit-limit-{window.label}": str(window.item.amount),
            f"x-ratelimit-remaining-{window.label}": str(max(0, stats.remaining)),
            f"x-ratelimit-reset-{window.label}": f"{retry_after}s",
        }
        return RateLimited(
            f"Rate limit reached for key '{key.name}': {window.item.amount} "
            f"{window.label} per {per}. Retry after {retry_after} s.",
            headers=headers,
        )


def _request_windows(key: KeyInfo) -> list[_Window]:
    windows = []
    if key.rpm:
        windows.append(_Window("requests", RateLimitItemPerMinute(key.rpm)))
    if key.rph:
        windows.append(_Window("requests", RateLimitItemPerHour(key.rph)))
    return windows
