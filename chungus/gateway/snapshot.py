"""In-memory snapshots of keys and the routing table, so the hot path never queries."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async

logger = logging.getLogger("chungus.gateway")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    name: str
    bucket: str = ""  # rate-limit identity: part of the key's hash, unique across installs
    rpm: int | None = None
    rph: int | None = None
    tpm: int | None = None
    allowed_models: frozenset[str] = frozenset()
    expires_at: float | None = None
    active: bool = True
    tier: str = "interactive"
    admin: bool = False  # the owner is a superuser: may read fleet status


@dataclass(frozen=True, slots=True)
class BackendInfo:
    id: int
    url: str
    engine: str = "openai"
    upstream_model: str = ""
    max_concurrency: int = 64
    chat: bool = True  # False: the engine's model has no chat format (completions only)

    @property
    def root(self) -> str:
        """The server's root URL: the base URL without its `/v1`."""
        return self.url.removesuffix("/v1")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    backends: tuple[BackendInfo, ...]
    created: int = 0
    routing: str = "least-outstanding"
    deployed: bool = False  # CHUNGUS runs it (a Deployment): a request may start it


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int = -1
    keys: dict[str, KeyInfo] = field(default_factory=dict)
    models: dict[str, ModelInfo] = field(default_factory=dict)


def load_snapshot() -> Snapshot:
    """Read keys, models and backends from the database (call off the hot path)."""
    from chungus.accounts.models import ApiKey
    from chungus.core.models import ConfigVersion
    from chungus.fleet.models import Backend, Deployment, Model

    version = ConfigVersion.current()
    keys = {
        k.key_hash: KeyInfo(
            id=k.id,
            name=k.name,
            bucket=k.key_hash[:24],
            rpm=k.rpm,
            rph=k.rph,
            tpm=k.tpm,
            allowed_models=frozenset(k.allowed_models or ()),
            expires_at=k.expires_at.timestamp() if k.expires_at else None,
            active=k.is_active,
            tier=k.priority,
            admin=bool(k.owner and k.owner.is_superuser),
        )
        for k in ApiKey.objects.select_related("owner")
    }
    backends: dict[int, list[BackendInfo]] = {}
    for b in Backend.objects.all():
        backends.setdefault(b.model_id, []).append(
            BackendInfo(
                id=b.id,
                url=b.url.rstrip("/"),
                engine=b.engine,
                upstream_model=b.upstream_model,
                max_concurrency=b.max_concurrency,
                chat=b.chat_format != "none",
            )
        )
    deployed = set(Deployment.objects.filter(desired="running").values_list("name", flat=True))
    models = {
        m.name: ModelInfo(
            m.name,
            tuple(backends.get(m.id, ())),
            int(m.created_at.timestamp()),
            m.routing,
            m.name in deployed,
        )
        for m in Model.objects.all()
    }
    return Snapshot(version=version, keys=keys, models=models)


def _current_version() -> int:
    from chungus.core.models import ConfigVersion

    return ConfigVersion.current()


class SnapshotStore:
    """Holds the current snapshot and follows the configuration version."""

    def __init__(self, snapshot: Snapshot | None = None) -> None:
        self.current = snapshot or Snapshot()

    async def reload(self) -> None:
        self.current = await sync_to_async(load_snapshot, thread_sensitive=False)()

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
