"""The health monitor records what it sees, including breakers the data plane tripped."""

import aiohttp

from chungus.core.routes import BackendInfo
from chungus.engines import registry
from chungus.gateway.routing.admission import Admission
from chungus.gateway.routing.health import HealthMonitor
from chungus.gateway.snapshot import SnapshotStore

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
