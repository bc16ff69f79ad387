"""The counters behind per-key limits: sliding windows of requests, a fixed minute of tokens.

Two kinds with one interface. `LocalWindows` keeps them in this process's memory as plain
numbers in a dict: no call in it ever waits, so a request's checks cost a few dict lookups
(the `limits` library's memory storage, with its locks, key strings and expiry tasks, cost
about a fifth of a request's CPU). `SharedWindows` keeps them in Redis through `limits`, so
several CHUNGUS processes enforce one limit together.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter

MINUTE, HOUR = 60, 3600
TOKEN_SECONDS = MINUTE  # the token window: tokens per minute


@dataclass(frozen=True, slots=True)
class Stats:
    reset: float  # when a refused request may next pass (epoch seconds)
    remaining: int


class Windows(Protocol):
    """Counters per key ident. A request window is (amount, seconds); the token window is
    a minute of `amount` tokens."""

    local: bool  # its calls never wait (the limiter then settles without a task)

    async def hit_request(self, ident: str, amount: int, seconds: int) -> bool:
        """Count one request in the sliding window unless that would pass `amount`."""
        ...

    async def request_stats(self, ident: str, amount: int, seconds: int) -> Stats: ...

    async def tokens_left(self, ident: str, amount: int) -> bool:
        """Whether the token window has any of its `amount` left."""
        ...

    async def add_tokens(self, ident: str, amount: int, tokens: int) -> int:
        """Add `tokens` (negative gives back) to the token window; return its total."""
        ...

    async def token_window_end(self, ident: str, amount: int) -> float: ...

    async def token_stats(self, ident: str, amount: int) -> Stats: ...


class LocalWindows:
    """Windows in process memory; every call completes without waiting.

    Requests: a sliding window counter, as `limits` counts it: this window's count plus the
    last window's, weighted by how much of it still lies within `seconds` of now. Tokens: a
    window that opens at its first use and lasts a minute.
    """

    local = True

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._requests: dict[tuple[str, int, int], list[float]] = {}  # [index, now, previous]
        self._tokens: dict[tuple[str, int], list[float]] = {}  # [total, window end]

    def reset(self) -> None:
        self._requests.clear()
        self._tokens.clear()

    def _request_window(self, ident: str, amount: int, seconds: int) -> tuple[list[float], float]:
        now = self.clock()
        index = now // seconds
        window = self._requests.get((ident, amount, seconds))
        if window is None:
            window = self._requests[(ident, amount, seconds)] = [index, 0.0, 0.0]
        elif window[0] != index:
            previous = window[1] if window[0] == index - 1 else 0.0
            window[0], window[1], window[2] = index, 0.0, previous
        return window, now

    async def hit_request(self, ident: str, amount: int, seconds: int) -> bool:
        window, now = self._request_window(ident, amount, seconds)
        elapsed = now - window[0] * seconds
        if window[2] * (seconds - elapsed) / seconds + window[1] + 1 > amount:
            return False
        window[1] += 1
        return True

    async def request_stats(self, ident: str, amount: int, seconds: int) -> Stats:
        window, now = self._request_window(ident, amount, seconds)
        start = window[0] * seconds
        elapsed = now - start
        weighted = window[2] * (seconds - elapsed) / seconds + window[1]
        remaining = max(0, math.floor(amount - weighted))
        if window[1] + 1 > amount:  # full on its own: the next window, once this one's share
            return Stats(start + seconds * (2 - (amount - 1) / window[1]), remaining)  # falls
        if not window[2]:
            return Stats(now, remaining)
        # The last window's share falls as time passes: when one more request fits.
        must_fall = weighted + 1 - amount
        return Stats(now + max(0.0, must_fall) * seconds / window[2], remaining)

    def _token_window(self, ident: str, amount: int) -> list[float]:
        now = self.clock()
        window = self._tokens.get((ident, amount))
        if window is None or now >= window[1]:
            window = self._tokens[(ident, amount)] = [0.0, now + TOKEN_SECONDS]
        return window

    async def tokens_left(self, ident: str, amount: int) -> bool:
        return self._token_window(ident, amount)[0] < amount

    async def add_tokens(self, ident: str, amount: int, tokens: int) -> int:
        window = self._token_window(ident, amount)
        window[0] += tokens
        return int(window[0])

    async def token_window_end(self, ident: str, amount: int) -> float:
        return self._token_window(ident, amount)[1]

    async def token_stats(self, ident: str, amount: int) -> Stats:
        total, end = self._token_window(ident, amount)
        return Stats(end, max(0, amount - int(total)))


class SharedWindows:
    """Windows in a `limits` storage (Redis, or its fallback while Redis is down)."""

    local = False

    def __init__(self, storage: Storage, namespace: str = "chungus") -> None:
        self.storage = storage
        self.namespace = namespace
        # A sliding counter smooths window edges for request limits; tokens need a
        # fixed window, whose counter can be increased and decreased (reserve, settle).
        self.requests = SlidingWindowCounterRateLimiter(storage)
        self.tokens = FixedWindowRateLimiter(storage)

    async def hit_request(self, ident: str, amount: int, seconds: int) -> bool:
        return await self.requests.hit(_item(amount, seconds), self.namespace, ident)

    async def request_stats(self, ident: str, amount: int, seconds: int) -> Stats:
        stats = await self.requests.get_window_stats(_item(amount, seconds), self.namespace, ident)
        return Stats(stats.reset_time, stats.remaining)

    async def tokens_left(self, ident: str, amount: int) -> bool:
        return await self.tokens.test(RateLimitItemPerMinute(amount), self.namespace, ident)

    async def add_tokens(self, ident: str, amount: int, tokens: int) -> int:
        key = RateLimitItemPerMinute(amount).key_for(self.namespace, ident)
        return await self.storage.incr(key, TOKEN_SECONDS, tokens)

    async def token_window_end(self, ident: str, amount: int) -> float:
        key = RateLimitItemPerMinute(amount).key_for(self.namespace, ident)
        return await self.storage.get_expiry(key)

    async def token_stats(self, ident: str, amount: int) -> Stats:
        item = RateLimitItemPerMinute(amount)
        stats = await self.tokens.get_window_stats(item, self.namespace, ident)
        return Stats(stats.reset_time, stats.remaining)


def _item(amount: int, seconds: int) -> RateLimitItem:
    return RateLimitItemPerHour(amount) if seconds == HOUR else RateLimitItemPerMinute(amount)
