"""Rate-limit storage that keeps serving when Redis is down.

Limits shared through Redis must not turn a Redis outage into a /v1 outage. While Redis
cannot be reached, counters live in this process's memory (each process then enforces the
limits on its own) and one warning says so; every `probe_seconds` one call pings Redis, and
once it answers the shared counters are used again, with one line saying so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from limits.aio.storage import (
    MemoryStorage,
    MovingWindowSupport,
    SlidingWindowCounterSupport,
    Storage,
)
from limits.errors import StorageError

from chungus.gateway.ratelimit import make_storage
from chungus.gateway.windows import LocalWindows, SharedWindows, Windows

logger = logging.getLogger("chungus.gateway")
T = TypeVar("T")


def limit_windows(redis_url: str, probe_seconds: float = 5.0) -> Windows:
    """Counters in process memory without a Redis URL; with one, shared through Redis and
    falling back to process memory while Redis is down."""
    if not redis_url:
        return LocalWindows()
    return SharedWindows(FallbackStorage(make_storage(redis_url), probe_seconds=probe_seconds))


class FallbackStorage(Storage, MovingWindowSupport, SlidingWindowCounterSupport):
    """Delegates to `shared` (Redis); to process memory while `shared` cannot be reached."""

    STORAGE_SCHEME = None  # built directly, never from a URL

    def __init__(
        self,
        shared: Storage,
        probe_seconds: float = 5.0,
        timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.shared = shared
        self.local = MemoryStorage()
        self.probe_seconds = probe_seconds
        self.timeout = timeout  # a Redis that hangs counts as down, too
        self.clock = clock
        self.down = False
        self._next_probe = 0.0
        base = shared.base_exceptions
        errors = base if isinstance(base, tuple) else (base,)
        self._errors: tuple[type[BaseException], ...] = (
            *errors,
            StorageError,
            OSError,
            TimeoutError,
        )

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ()  # failures of `shared` are handled here, never raised

    async def _use(self, call: Callable[[Any], Awaitable[T]]) -> T:
        if not self.down or await self._back():
            try:
                async with asyncio.timeout(self.timeout):
                    return await call(self.shared)
            except self._errors as exc:
                self._fell(exc)
        return await call(self.local)

    def _fell(self, exc: BaseException) -> None:
        if not self.down:  # once per outage, not once per request
            logger.warning(
                "Redis is unreachable (%s): rate limits are counted per process until it returns",
                str(exc) or type(exc).__name__,
            )
        self.down = True
        self._next_probe = self.clock() + self.probe_seconds

    async def _back(self) -> bool:
        """Whether Redis answers again: asked at most once per `probe_seconds`."""
        now = self.clock()
        if now < self._next_probe:
            return False
        self._next_probe = now + self.probe_seconds
        try:
            async with asyncio.timeout(self.timeout):
                alive = await self.shared.check()
        except self._errors:
            alive = False
        if alive:
            self.down = False
            logger.info("Redis is reachable again: rate limits are shared again")
        return alive

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return await self._use(lambda s: s.incr(key, expiry, amount))

    async def get(self, key: str) -> int:
        return await self._use(lambda s: s.get(key))

    async def get_expiry(self, key: str) -> float:
        return await self._use(lambda s: s.get_expiry(key))

    async def check(self) -> bool:
        return await self._use(lambda s: s.check())

    async def reset(self) -> int | None:
        return await self._use(lambda s: s.reset())

    async def clear(self, key: str) -> None:
        await self._use(lambda s: s.clear(key))

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return await self._use(lambda s: s.acquire_entry(key, limit, expiry, amount))

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        return await self._use(lambda s: s.get_moving_window(key, limit, expiry))

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        return await self._use(lambda s: s.acquire_sliding_window_entry(key, limit, expiry, amount))

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        return await self._use(lambda s: s.get_sliding_window(key, expiry))

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        await self._use(lambda s: s.clear_sliding_window(key, expiry))
