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


@dataclass(slots=True)
class Reservation:
    """Tokens set aside for one request until it is settled with what it really used."""

    key: KeyInfo
    tokens: int = 0
    window_reset: float = 0.0  # when the token window it was taken from ends


class RateLimiter:
    """Checks a key's limits before a request, reserving its tokens, and settles after.

    A request reserves its prompt estimate plus the most it may generate, atomically
    (one storage increment), so concurrent requests cannot all pass a check and then
    overshoot together: the key's token limit is exceeded by at most what one request
    uses beyond its reservation. A reservation is never more than the whole limit, so
    a request larger than the limit still runs when the window is empty.
    """

    def __init__(self, storage: Storage, namespace: str = "chungus") -> None:
        self.storage = storage
        self.namespace = namespace
        # A sliding counter smooths window edges for request limits; tokens need a
        # fixed window, whose counter can be increased and decreased (reserve, settle).
        self.requests = SlidingWindowCounterRateLimiter(storage)
        self.tokens = FixedWindowRateLimiter(storage)
        self._pending: set[asyncio.Future[None]] = set()

    async def admit(self, key: KeyInfo) -> None:
        """Count one request against the key, or raise RateLimited (also when its token
        window is spent already)."""
        if key.tpm:
            window = _Window("tokens", RateLimitItemPerMinute(key.tpm))
            if not await self.tokens.test(window.item, self.namespace, _ident(key)):
                raise await self._limited(window, key, self.tokens)
        for window in _request_windows(key):
            if not await self.requests.hit(window.item, self.namespace, _ident(key)):
                raise await self._limited(window, key, self.requests)

    async def reserve(self, key: KeyInfo, tokens: int) -> Reservation:
        """Set `tokens` of the key's token limit aside (at most the whole limit, at least
        one), or raise RateLimited when they do not fit in what is left."""
        if not key.tpm:
            return Reservation(key)
        tokens = max(1, min(tokens, key.tpm))
        window = _Window("tokens", RateLimitItemPerMinute(key.tpm))
        if not await self.tokens.hit(window.item, self.namespace, _ident(key), cost=tokens):
            # The increment counted even so: take it back before answering 429.
            await self.storage.incr(window.item.key_for(self.namespace, _ident(key)), 60, -tokens)
            raise await self._limited(window, key, self.tokens)
        return Reservation(key, tokens, await self._window_reset(key))

    async def settle(self, reservation: Reservation, used: int) -> None:
        """Replace the reservation by the tokens the request used: charge the overshoot, or
        give back the unused part while the window it was taken from lasts."""
        key, extra = reservation.key, used - reservation.tokens
        if not key.tpm or not extra:
            return
        item = RateLimitItemPerMinute(key.tpm)
        if extra > 0:
            await self.tokens.hit(item, self.namespace, _ident(key), cost=extra)
            return
        # Redis keeps whole seconds of expiry, so a window read twice agrees within 1 s; the
        # next window ends at least 60 s later.
        if abs(await self._window_reset(key) - reservation.window_reset) > 2:
            return  # that window has ended, and the reservation with it
        left = await self.storage.incr(item.key_for(self.namespace, _ident(key)), 60, extra)
        if left < 0:  # the window ended meanwhile: do not lend the next one tokens
            await self.storage.incr(item.key_for(self.namespace, _ident(key)), 60, -left)

    async def charge_tokens(self, key: KeyInfo, tokens: int) -> None:
        """Record tokens a request used that reserved none."""
        await self.settle(Reservation(key), tokens)

    def settle_later(self, reservation: Reservation, used: int) -> None:
        """Settle in the background so finishing a response never waits on storage."""
        if not reservation.key.tpm or used == reservation.tokens:
            return  # nothing to settle: spare the event loop a task per request
        task = asyncio.ensure_future(self.settle(reservation, used))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _window_reset(self, key: KeyInfo) -> float:
        item = RateLimitItemPerMinute(key.tpm or 1)
        return await self.storage.get_expiry(item.key_for(self.namespace, _ident(key)))

    async def _limited(
        self,
        window: _Window,
        key: KeyInfo,
        limiter: SlidingWindowCounterRateLimiter | FixedWindowRateLimiter,
    ) -> RateLimited:
        stats = await limiter.get_window_stats(window.item, self.namespace, _ident(key))
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


def _ident(key: KeyInfo) -> str:
    return key.bucket or str(key.id)


def _request_windows(key: KeyInfo) -> list[_Window]:
    windows = []
    if key.rpm:
        windows.append(_Window("requests", RateLimitItemPerMinute(key.rpm)))
    if key.rph:
        windows.append(_Window("requests", RateLimitItemPerHour(key.rph)))
    return windows
