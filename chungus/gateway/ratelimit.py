"""Per-key request and token limits: reserve before a request, settle after.

Counters live in process memory by default (`LocalWindows`) and in Redis when REDIS_URL is
set (`SharedWindows`), so several CHUNGUS processes enforce one limit together.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from limits.aio.storage import Storage
from limits.storage import storage_from_string

from chungus.accounts.keyinfo import KeyInfo
from chungus.gateway.windows import HOUR, MINUTE, Stats, Windows
from chungus.lib.openai_errors import RateLimited


def make_storage(redis_url: str) -> Storage:
    """Redis-backed `limits` storage for a redis:// or rediss:// URL."""
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
    (one counter increment), so concurrent requests cannot all pass a check and then
    overshoot together: the key's token limit is exceeded by at most what one request
    uses beyond its reservation. A reservation is never more than the whole limit, so
    a request larger than the limit still runs when the window is empty.
    """

    def __init__(self, windows: Windows) -> None:
        self.windows = windows
        self._pending: set[asyncio.Future[None]] = set()

    async def admit(self, key: KeyInfo) -> None:
        """Count one request against the key, or raise RateLimited (also when its token
        window is spent already)."""
        ident = key.bucket or str(key.id)
        if key.tpm and not await self.windows.tokens_left(ident, key.tpm):
            raise self._limited(key, "tokens", key.tpm, "minute", await self._token_stats(key))
        for amount, seconds, per in ((key.rpm, MINUTE, "minute"), (key.rph, HOUR, "hour")):
            if amount and not await self.windows.hit_request(ident, amount, seconds):
                stats = await self.windows.request_stats(ident, amount, seconds)
                raise self._limited(key, "requests", amount, per, stats)

    async def reserve(self, key: KeyInfo, tokens: int) -> Reservation:
        """Set `tokens` of the key's token limit aside (at most the whole limit, at least
        one), or raise RateLimited when they do not fit in what is left."""
        if not key.tpm:
            return Reservation(key)
        ident = key.bucket or str(key.id)
        tokens = max(1, min(tokens, key.tpm))
        if await self.windows.add_tokens(ident, key.tpm, tokens) > key.tpm:
            # The increment counted even so: take it back before answering 429.
            await self.windows.add_tokens(ident, key.tpm, -tokens)
            raise self._limited(key, "tokens", key.tpm, "minute", await self._token_stats(key))
        return Reservation(key, tokens, await self.windows.token_window_end(ident, key.tpm))

    async def settle(self, reservation: Reservation, used: int) -> None:
        """Replace the reservation by the tokens the request used: charge the overshoot, or
        give back the unused part while the window it was taken from lasts."""
        key, extra = reservation.key, used - reservation.tokens
        if not key.tpm or not extra:
            return
        ident = key.bucket or str(key.id)
        if extra > 0:
            await self.windows.add_tokens(ident, key.tpm, extra)
            return
        # Redis keeps whole seconds of expiry, so a window read twice agrees within 1 s; the
        # next window ends at least 60 s later.
        if abs(await self.windows.token_window_end(ident, key.tpm) - reservation.window_reset) > 2:
            return  # that window has ended, and the reservation with it
        left = await self.windows.add_tokens(ident, key.tpm, extra)
        if left < 0:  # the window ended meanwhile: do not lend the next one tokens
            await self.windows.add_tokens(ident, key.tpm, -left)

    async def charge_tokens(self, key: KeyInfo, tokens: int) -> None:
        """Record tokens a request used that reserved none."""
        await self.settle(Reservation(key), tokens)

    async def tokens_used(self, key: KeyInfo) -> int:
        """What the key's current token window holds (charged and reserved)."""
        assert key.tpm
        return key.tpm - (await self._token_stats(key)).remaining

    def settle_later(self, reservation: Reservation, used: int) -> None:
        """Settle without making the response wait: at once where the counters never wait,
        else in the background so finishing a response never waits on Redis."""
        if not reservation.key.tpm or used == reservation.tokens:
            return  # nothing to settle
        if self.windows.local:
            _complete(self.settle(reservation, used))  # no task per request for it
            return
        task = asyncio.ensure_future(self.settle(reservation, used))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _token_stats(self, key: KeyInfo) -> Stats:
        assert key.tpm
        return await self.windows.token_stats(key.bucket or str(key.id), key.tpm)

    @staticmethod
    def _limited(key: KeyInfo, label: str, amount: int, per: str, stats: Stats) -> RateLimited:
        retry_after = max(1, math.ceil(stats.reset - time.time()))
        headers = {
            "Retry-After": str(retry_after),
            f"x-ratelimit-limit-{label}": str(amount),
            f"x-ratelimit-remaining-{label}": str(max(0, stats.remaining)),
            f"x-ratelimit-reset-{label}": f"{retry_after}s",
        }
        return RateLimited(
            f"Rate limit reached for key '{key.name}': {amount} {label} per {per}. "
            f"Retry after {retry_after} s.",
            headers=headers,
        )


def _complete(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never waits (LocalWindows' calls) to its end, here and now."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("a local limit counter waited")
