"""Who calls /v1/files and /v1/batches: the key, checked against the data plane's snapshot
and counted against its request limits like any request."""

from __future__ import annotations

import time

from starlette.requests import Request

from chungus.accounts.keyinfo import KeyInfo
from chungus.gateway.auth import authenticate
from chungus.gateway.ratelimit import RateLimiter
from chungus.gateway.snapshot import SnapshotStore


class Callers:
    def __init__(self, store: SnapshotStore, limiter: RateLimiter) -> None:
        self.store, self.limiter = store, limiter

    async def key(self, request: Request) -> KeyInfo:
        """The calling key, or 401; 429 when it is over its request limit."""
        key = authenticate(self.store.current, request.headers.get("authorization"), time.time())
        await self.limiter.admit(key)
        return key
