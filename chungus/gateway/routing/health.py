"""Active health checks: probe every backend every few seconds (with jitter), feed the
breakers, read engine load where the engine reports it, and record changes."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp

from chungus.core.routes import BackendInfo
from chungus.engines.base import Engine
from chungus.engines.scrape import scrape_load
from chungus.gateway.routing.admission import Admission
from chungus.gateway.routing.breaker import Health
from chungus.gateway.snapshot import SnapshotStore
from chungus.lib.supervise import beat

logger = logging.getLogger("chungus.gateway")

OnChange = Callable[[int, str, str], Awaitable[None]]  # backend id, state, reason


@dataclass(slots=True)
class ProbeResult:
    ok: bool
    reason: str = ""
    fatal: bool = False


class HealthMonitor:
    def __init__(
        self,
        store: SnapshotStore,
        admission: Admission,
        engines: Mapping[str, Engine],
        *,
        interval: float = 3.0,
        timeout: float = 2.0,
        on_change: OnChange | None = None,
        read_load: bool = True,
    ) -> None:
        self.store = store
        self.admission = admission
        self.engines = engines
        self.interval = interval
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.on_change = on_change
        self.read_load = read_load
        self.checked: dict[int, float] = {}
        # What was last recorded per backend: the data plane trips breakers too, so
        # compare with this, not with the state before this probe.
        self.recorded: dict[int, Health] = {}

    async def run(self) -> None:
        """Probe until cancelled."""
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            while True:
                backends = {b.id: b for m in self.store.current.models.values() for b in m.backends}
                await asyncio.gather(*(self.check(session, b) for b in backends.values()))
                beat()  # for /readyz: this loop still goes round
                await asyncio.sleep(self.interval * random.uniform(0.8, 1.2))

    async def check(self, session: aiohttp.ClientSession, backend: BackendInfo) -> None:
        engine = self.engines.get(backend.engine)
        if engine is None:
            return
        result = await probe(session, backend.root + engine.health_path, backend.auth_headers)
        breaker = self.admission.breaker(backend.id)
        if result.ok:
            breaker.success()
            if self.read_load and engine.load_paths:
                await self._read_load(session, backend, engine)
        else:
            breaker.failure(time.monotonic(), result.reason, fatal=result.fatal)
        self.checked[backend.id] = time.time()
        state = breaker.state
        changed = state is not self.recorded.get(backend.id, Health.UNKNOWN)
        changed = changed and state is not Health.PROBING
        if result.ok or changed:
            # Up (perhaps back in rotation after the data plane tripped it, while the record
            # still said healthy) or changed: waiters need not wait for the next release.
            self.admission.dispatch_all()  # nothing to do where nobody waits
        if changed:
            self.recorded[backend.id] = state
            logger.info("backend %s is %s %s", backend.url, breaker.state, breaker.reason)
            if self.on_change is not None:
                await self.on_change(backend.id, breaker.state.value, breaker.reason)

    async def _read_load(
        self, session: aiohttp.ClientSession, backend: BackendInfo, engine: Engine
    ) -> None:
        self.admission.engine_load[backend.id] = await scrape_load(
            session, engine, backend.root, backend.auth_headers
        )


async def probe(
    session: aiohttp.ClientSession, url: str, headers: Mapping[str, str] | None = None
) -> ProbeResult:
    """GET a health URL (with the backend's key, if any): any answer below 500 means the
    server is up (a generic OpenAI server may want a key for /v1/models); refused
    connections are certainly down."""
    try:
        async with session.get(url, headers=headers) as response:
            if response.status < 500:
                return ProbeResult(True)
            return ProbeResult(False, f"health check answered HTTP {response.status}")
    except aiohttp.ClientConnectorError as exc:
        return ProbeResult(False, f"not reachable: {exc.os_error or exc}", fatal=True)
    except (TimeoutError, aiohttp.ServerTimeoutError):
        return ProbeResult(False, "health check timed out")
    except aiohttp.ClientError as exc:
        return ProbeResult(False, f"health check failed: {type(exc).__name__}")
