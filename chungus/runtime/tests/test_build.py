"""The composition root's readiness report."""

from chungus.core.routes import BackendInfo, ModelInfo
from chungus.gateway.routing.health import HealthMonitor
from chungus.runtime.build import Runtime
from chungus.telemetry.entries import LogEntry
from chungus.telemetry.requestlog import LogBuffer
from chungus.testing.inprocess import asgi_client, in_process_gateway


async def test_readyz_says_how_many_request_log_rows_were_dropped_without_failing_on_it():
    gemma = ModelInfo("gemma", (BackendInfo(1, "http://127.0.0.1:9/v1"),))
    gateway = in_process_gateway([gemma], {}, LogBuffer(max_pending=3))
    runtime = Runtime(gateway, HealthMonitor(gateway.store, gateway.admission, {}))
    runtime.started = True
    async with asgi_client(gateway, runtime.readiness) as client:
        before = (await client.get("/readyz")).json()
        for _ in range(10):
            gateway.logs.append(LogEntry("chat/completions", 200))
        answer = await client.get("/readyz")
        metrics = (await client.get("/metrics")).text
    assert "chungus_request_log_dropped_total 7.0" in metrics
    assert answer.json()["checks"]["request_log"] == {"pending": 3, "dropped": 7, "rejected": 0}
    assert answer.json()["ready"] == before["ready"], "dropped rows are reported, not fatal"
