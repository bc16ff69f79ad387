"""Admission: priority tiers, fairness across keys, bounded waiting (no network)."""

import asyncio

import pytest

from chungus.core.routes import BackendInfo, ModelInfo
from chungus.engines.load import EngineLoad
from chungus.gateway.routing.admission import Admission
from chungus.gateway.routing.strategies import RouteRequest
from chungus.lib.openai_errors import ServiceUnavailable

ONE = BackendInfo(id=1, url="http://a/v1", max_concurrency=1)
MODEL = ModelInfo("m", (ONE,))
REQ = RouteRequest("m")


async def queued(admission, key_id, tier, served, label):
    backend = await admission.acquire(MODEL, REQ, key_id, tier)
    served.append(label)
    await asyncio.sleep(0)
    admission.release("m", backend)


async def test_a_free_backend_is_taken_at_once():
    admission = Admission()
    assert await admission.acquire(MODEL, REQ, 1) is ONE
    assert admission.in_flight[1] == 1


async def test_interactive_requests_are_served_before_earlier_batch_requests():
    admission = Admission()
    first = await admission.acquire(MODEL, REQ, 1)
    served: list[str] = []
    tasks = [
        asyncio.create_task(queued(admission, 1, "batch", served, f"batch{i}")) for i in range(5)
    ]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(queued(admission, 2, "interactive", served, "interactive")))
    await asyncio.sleep(0)
    assert admission.depth("m") == 6
    admission.release("m", first)
    await asyncio.gather(*tasks)
    assert served[0] == "interactive"
    assert served[1:] == [f"batch{i}" for i in range(5)]


async def test_a_flooding_key_does_not_starve_another_key_of_its_tier():
    admission = Admission()
    first = await admission.acquire(MODEL, REQ, 1)
    served: list[str] = []
    tasks = [asyncio.create_task(queued(admission, 1, "batch", served, "noisy")) for _ in range(20)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(queued(admission, 2, "batch", served, "quiet")))
    await asyncio.sleep(0)
    admission.release("m", first)
    await asyncio.gather(*tasks)
    assert served.index("quiet") <= 1


async def test_a_full_queue_answers_503_with_retry_after_at_once():
    admission = Admission(max_queue=2)
    await admission.acquire(MODEL, REQ, 1)
    waiting = [asyncio.create_task(admission.acquire(MODEL, REQ, 1)) for _ in range(2)]
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ServiceUnavailable) as error:
        await admission.acquire(MODEL, REQ, 1)
    assert loop.time() - started < 0.05
    assert error.value.code == "model_overloaded" and error.value.headers["Retry-After"]
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    assert admission.depth("m") == 0


async def test_waiting_is_bounded_in_time():
    admission = Admission(queue_timeout=0.05)
    await admission.acquire(MODEL, REQ, 1)
    with pytest.raises(ServiceUnavailable) as error:
        await admission.acquire(MODEL, REQ, 2)
    assert error.value.code == "queue_timeout"
    assert admission.depth("m") == 0


async def test_an_unhealthy_only_backend_is_a_503_without_waiting():
    admission = Admission()
    admission.breaker(1).failure(0, "refused", fatal=True)
    admission.clock = lambda: 0.1
    with pytest.raises(ServiceUnavailable) as error:
        await admission.acquire(MODEL, REQ, 1)
    assert error.value.code == "no_healthy_backend"
    assert "refused" in error.value.message


async def test_a_request_that_gives_up_leaves_no_trace_in_the_queue():
    admission = Admission()
    await admission.acquire(MODEL, REQ, 1)
    waiter = asyncio.create_task(admission.acquire(MODEL, REQ, 2))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert admission.depth("m") == 0


async def test_failover_excludes_backends_already_tried():
    two = BackendInfo(id=2, url="http://b/v1")
    model = ModelInfo("m", (ONE, two))
    admission = Admission()
    assert (await admission.acquire(model, REQ, 1, exclude=frozenset({1}))).id == 2


async def test_a_conversation_moves_off_a_backend_whose_slots_are_all_taken():
    a, b = BackendInfo(id=1, url="http://a/v1"), BackendInfo(id=2, url="http://b/v1")
    model = ModelInfo("m", (a, b), routing="cache-affinity")
    admission = Admission()
    admission.engine_load[1] = EngineLoad(running=0, slots_total=2, slots_idle=2)
    conversation = RouteRequest("m", (b"conv",))
    assert await admission.acquire(model, conversation, 1) is a  # learns: conv lives on a
    assert await admission.acquire(model, RouteRequest("m", (b"other",)), 1) is b
    assert await admission.acquire(model, conversation, 1) is a  # a's two slots now taken
    assert await admission.acquire(model, conversation, 1) is b  # 2:1 is within the balance
