"""In-memory snapshots of keys and the routing table, so the hot path never queries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async

from chungus.accounts.keyinfo import KeyInfo
from chungus.core.routes import ModelInfo

logger = logging.getLogger("chungus.gateway")

Keys = Callable[[], dict[str, KeyInfo]]  # every key by the hash of its secret
Routes = Callable[[], dict[str, ModelInfo]]  # every model by name, with its backends


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int = -1
    keys: dict[str, KeyInfo] = field(default_factory=dict)
    models: dict[str, ModelInfo] = field(default_factory=dict)


def load_snapshot(keys: Keys, routes: Routes) -> Snapshot:
    """Read the configuration version, then keys and routes (call off the hot path)."""
    return Snapshot(version=_current_version(), keys=keys(), models=routes())


def _current_version() -> int:
    from chungus.core.models import ConfigVersion
    from chungus.lib.dbthreads import refresh_connections

    refresh_connections()  # a pool thread's connection may be one a database restart broke
    return ConfigVersion.current()


# A reload failing for longer than this many refresh intervals (and at least STALE_MIN_S)
# makes the process not ready: its revocations and deactivations would be stale.
STALE_INTERVALS = 3
STALE_MIN_S = 5.0
RETRY_MAX_S = 4.0  # backoff cap after failures, short so revocations resume soon after


@dataclass(slots=True)
class SyncStatus:
    """How well the store follows the database (read by /readyz)."""

    synced_at: float | None = None  # monotonic: the last time the snapshot was known current
    loaded_at: float | None = None  # wall clock: the last successful load
    failures: int = 0  # in a row
    last_error: str = ""


def retry_delay(interval: float, failures: int) -> float:
    """The wait before the next check: the interval, doubled per failure in a row, capped."""
    if failures <= 0:
        return interval
    return min(interval * 2**failures, max(interval, RETRY_MAX_S))


def sync_report(status: SyncStatus, interval: float, now: float) -> dict[str, Any]:
    """The store's check for /readyz: ok unless the snapshot has not been confirmed current
    for more than a few refresh intervals."""
    stale_after = max(STALE_INTERVALS * interval, STALE_MIN_S)
    age = None if status.synced_at is None else round(now - status.synced_at, 3)
    return {
        "ok": age is not None and age <= stale_after,
        "synced_s_ago": age,
        "loaded_at": status.loaded_at,
        "failures": status.failures,
        "last_error": status.last_error,
    }


class SnapshotStore:
    """Holds the current snapshot and follows the configuration version."""

    def __init__(
        self,
        keys: Keys,
        routes: Routes,
        snapshot: Snapshot | None = None,
        on_reload: Callable[[Snapshot], None] | None = None,
    ) -> None:
        self.keys = keys
        self.routes = routes
        self.current = snapshot or Snapshot()
        self.on_reload = on_reload  # told each new snapshot (admission serves its waiters)
        self.sync = SyncStatus()
        self.interval = 1.0  # set by follow(); reported by report()

    async def reload(self) -> None:
        load = sync_to_async(load_snapshot, thread_sensitive=False)
        self.current = await load(self.keys, self.routes)
        if self.on_reload is not None:
            self.on_reload(self.current)
        self.sync.synced_at = time.monotonic()
        self.sync.loaded_at = time.time()

    async def check(self) -> None:
        """Reload if the configuration version moved; either way the snapshot is current."""
        version = await sync_to_async(_current_version, thread_sensitive=False)()
        if version != self.current.version:
            await self.reload()
            logger.info("configuration reloaded (version %s)", version)
        self.sync.synced_at = time.monotonic()

    async def follow(self, interval: float) -> None:
        """Reload whenever the configuration version moves; runs until cancelled. A failure
        keeps the last snapshot and is retried with backoff, and /readyz reports it."""
        self.interval = interval
        while True:
            await asyncio.sleep(retry_delay(interval, self.sync.failures))
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.sync.failures += 1
                # /readyz is public: the kind of error only; the log has the details.
                self.sync.last_error = type(exc).__name__
                logger.exception(
                    "configuration reload failed (%d in a row); keeping the last snapshot",
                    self.sync.failures,
                )
            else:
                if self.sync.failures:
                    logger.info("configuration reload recovered")
                self.sync.failures = 0
                self.sync.last_error = ""

    def report(self) -> dict[str, Any]:
        return sync_report(self.sync, self.interval, time.monotonic())
