"""The health monitor records what it sees, including breakers the data plane tripped."""

import asyncio
import time

import aiohttp

from chungus.core.routes import BackendInfo, ModelInfo
from chungus.engines import registry
from chungus.gateway.routing.admission import Admission
from chungus.gateway.routing.breaker import Health
from chungus.gateway.routing.health import HealthMonitor
from chungus.gateway.routing.strategies import RouteRequest
from chungus.gateway.snapshot import SnapshotStore
from chungus.testing.recording_engine import serving

DOWN = BackendInfo(id=1, url="http://127.0.0.1:9/v1", engine="llamacpp")


async def test_a_breaker_tripped_by_traffic_is_still_recorded_as_unhealthy():
    admission = Admission()
    admission.breaker(1).failure(0, "refused by a real request", fatal=True)  # the data plane
    changes = []

    async def record(backend_id, state, reason):
        changes.append((backend_id, state))

    store = SnapshotStore(keys=dict, routes=dict)
    monitor = HealthMonitor(store, admission, registry.by_name(), on_change=record)
    async with aiohttp.ClientSession() as session:
        await monitor.check(session, DOWN)
        await monitor.check(session, DOWN)
    assert changes == [(1, "unhealthy")], "recorded once, although the probe saw no change"


async def test_a_backend_with_a_key_is_probed_and_scraped_with_it():
    """The engine is chungus.testing.recording_engine: it wants the key and records it."""
    async with serving("engine-secret") as url:
        guarded = BackendInfo(id=2, url=url, engine="llamacpp", api_key="engine-secret")
        admission = Admission()
        monitor = HealthMonitor(SnapshotStore(keys=dict, routes=dict), admission,
                                registry.by_name())  # fmt: skip
        async with aiohttp.ClientSession() as session:
            await monitor.check(session, guarded)
            seen = await (await session.get(url.removesuffix("/v1") + "/_seen")).json()
    assert [s["path"] for s in seen] == ["/health", "/metrics", "/slots"]
    assert {s["authorization"] for s in seen} == {"Bearer engine-secret"}
    assert admission.breaker(2).state.value == "healthy"


async def test_a_backend_the_traffic_tripped_serves_the_queue_as_soon_as_a_probe_finds_it_up():
    """The engine is chungus.testing.recording_engine. The health record still says healthy
    (only the data plane saw the failure), so no state change wakes the queue: the probe's
    success itself must."""
    async with serving("engine-secret") as url:
        tripped = BackendInfo(id=3, url=url, engine="llamacpp", api_key="engine-secret",
                              max_concurrency=1)  # fmt: skip
        busy = BackendInfo(id=4, url="http://127.0.0.1:9/v1", engine="llamacpp",
                           max_concurrency=1)  # fmt: skip
        model = ModelInfo("m", (tripped, busy))
        admission = Admission()
        monitor = HealthMonitor(SnapshotStore(keys=dict, routes=dict), admission,
                                registry.by_name(), read_load=False)  # fmt: skip
        monitor.recorded[3] = Health.HEALTHY
        admission.breaker(3).failure(time.monotonic(), "reset by a real request", fatal=True)
        assert await admission.acquire(model, RouteRequest("m"), 1) is busy
        waiter = asyncio.create_task(admission.acquire(model, RouteRequest("m"), 2))
        await asyncio.sleep(0)
        assert admission.depth("m") == 1
        async with aiohttp.ClientSession() as session:
            await monitor.check(session, tripped)
        await asyncio.sleep(0)
        assert waiter.done(), "served without waiting for the busy backend to finish"
        assert waiter.result() is tripped
