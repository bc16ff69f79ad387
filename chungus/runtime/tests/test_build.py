"""The composition root's readiness report."""

import asyncio

import pytest

from chungus.core.routes import BackendInfo, ModelInfo
from chungus.gateway.routing.health import HealthMonitor
from chungus.lib.supervise import Loop, Loops
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


@pytest.mark.django_db(transaction=True)
async def test_readyz_answers_503_while_a_background_loop_is_dead_or_stuck():
    gemma = ModelInfo("gemma", (BackendInfo(1, "http://127.0.0.1:9/v1"),))
    gateway = in_process_gateway([gemma], {}, LogBuffer())
    runtime = Runtime(gateway, HealthMonitor(gateway.store, gateway.admission, {}))
    runtime.started = True
    runtime.loops = Loops(base=0.01, cap=0.01)
    await gateway.store.reload()

    async def failing() -> None:
        raise RuntimeError("the text of this error stays in the log")

    async def silent() -> None:
        await asyncio.sleep(3600)  # runs, but never beats

    async with asgi_client(gateway, runtime.readiness) as client:
        healthy = await client.get("/readyz")
        runtime.loops.start([Loop("failing", failing), Loop("silent", silent, stale_after=0.05)])
        try:
            await asyncio.sleep(0.5)
            answer = await client.get("/readyz")
        finally:
            await runtime.loops.stop()
    assert healthy.status_code == 200, healthy.json()
    assert answer.status_code == 503
    loops = answer.json()["checks"]["loops"]
    assert loops["failing"]["state"] == "dead"
    assert loops["failing"]["last_error"] == "RuntimeError"
    assert loops["silent"]["state"] == "stuck"
    assert "stays in the log" not in answer.text
