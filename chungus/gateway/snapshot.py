"""In-memory snapshots of keys and the routing table, so the hot path never queries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

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

    return ConfigVersion.current()


class SnapshotStore:
    """Holds the current snapshot and follows the configuration version."""

    def __init__(self, keys: Keys, routes: Routes, snapshot: Snapshot | None = None) -> None:
        self.keys = keys
        self.routes = routes
        self.current = snapshot or Snapshot()

    async def reload(self) -> None:
        load = sync_to_async(load_snapshot, thread_sensitive=False)
        self.current = await load(self.keys, self.routes)

    async def follow(self, interval: float) -> None:
        """Reload whenever the configuration version moves; runs until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                version = await sync_to_async(_current_version, thread_sensitive=False)()
                if version != self.current.version:
                    await self.reload()
                    logger.info("configuration reloaded (version %s)", version)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("configuration reload failed; keeping the last snapshot")
