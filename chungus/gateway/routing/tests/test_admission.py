"""Admission: priority tiers, fairness across keys, bounded waiting, immediate dispatch
(no network)."""

import asyncio

import pytest

from chungus.accounts.keyinfo import key_infos
from chungus.core.routes import BackendInfo, ModelInfo
from chungus.engines.load import EngineLoad
from chungus.fleet.backends import routing_table
from chungus.fleet.models import Backend, Model
from chungus.gateway.routing.admission import Admission
from chungus.gateway.routing.strategies import RouteRequest
from chungus.gateway.snapshot import SnapshotStore
from chungus.lib.openai_errors import RateLimited, ServiceUnavailable

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
    admission = Admission(max_queue=2, key_share=1.0)
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


async def settled(task):
    """Let the loop run the task as far as it can go without anything else happening."""
    for _ in range(10):
        await asyncio.sleep(0)
    return task.done()


async def test_one_key_may_hold_only_its_share_of_the_queue():
    admission = Admission(max_queue=4, key_share=0.5)
    await admission.acquire(MODEL, REQ, 1)
    mine = [asyncio.create_task(admission.acquire(MODEL, REQ, 1)) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(RateLimited) as error:
        await admission.acquire(MODEL, REQ, 1)
    assert error.value.status == 429 and error.value.code == "queue_share_exceeded"
    assert "2 of the 4 places" in error.value.message and error.value.headers["Retry-After"]
    others = asyncio.create_task(admission.acquire(MODEL, REQ, 2))  # another key still waits
    await asyncio.sleep(0)
    assert admission.depth("m") == 3
    for task in [*mine, others]:
        task.cancel()
    await asyncio.gather(*mine, others, return_exceptions=True)


async def test_a_newcomer_takes_a_free_backend_that_the_waiters_before_it_cannot_use():
    a = BackendInfo(id=1, url="http://a/v1", max_concurrency=1)
    b = BackendInfo(id=2, url="http://b/v1", max_concurrency=1)
    model = ModelInfo("m", (a, b))
    admission = Admission()
    on_a = await admission.acquire(model, REQ, 1)
    await admission.acquire(model, REQ, 1)
    retry = asyncio.create_task(admission.acquire(model, REQ, 2, exclude=frozenset({1})))
    await asyncio.sleep(0)
    admission.release("m", on_a)  # a is free, but the retry already failed on it
    assert not await settled(retry)
    newcomer = asyncio.create_task(admission.acquire(model, REQ, 3))
    assert await settled(newcomer), "it waited though a had room"
    assert newcomer.result() is a
    retry.cancel()
    await asyncio.gather(retry, return_exceptions=True)


async def test_a_waiter_takes_a_backend_the_routing_table_adds_at_once():
    admission = Admission()
    await admission.acquire(MODEL, REQ, 1)
    waiter = asyncio.create_task(admission.acquire(MODEL, REQ, 2))
    assert not await settled(waiter)
    two = BackendInfo(id=2, url="http://b/v1")
    admission.follow({"m": ModelInfo("m", (ONE, two))})
    assert await settled(waiter), "it waited for a release though a new backend had room"
    assert waiter.result() is two


async def test_a_waiter_takes_a_slot_a_raised_concurrency_opens_at_once():
    admission = Admission()
    await admission.acquire(MODEL, REQ, 1)
    waiter = asyncio.create_task(admission.acquire(MODEL, REQ, 2))
    assert not await settled(waiter)
    wider = BackendInfo(id=1, url="http://a/v1", max_concurrency=2)
    admission.follow({"m": ModelInfo("m", (wider,))})
    assert await settled(waiter)
    assert waiter.result() is wider and admission.in_flight[1] == 2


async def test_a_chat_waiter_does_not_take_a_new_backend_that_cannot_chat():
    admission = Admission(queue_timeout=30)
    await admission.acquire(MODEL, REQ, 1)
    waiter = asyncio.create_task(admission.acquire(MODEL, REQ, 2))
    await asyncio.sleep(0)
    base = BackendInfo(id=2, url="http://b/v1", chat=False)
    admission.follow({"m": ModelInfo("m", (ONE, base))})
    assert not await settled(waiter)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)


@pytest.mark.django_db(transaction=True)
async def test_a_backend_added_in_the_database_serves_a_waiter_when_the_snapshot_reloads():
    admission = Admission()
    store = SnapshotStore(key_infos, routing_table, on_reload=lambda s: admission.follow(s.models))
    model = await Model.objects.acreate(name="m")
    await Backend.objects.acreate(model=model, url="http://a/v1", max_concurrency=1)
    await store.reload()
    served = store.current.models["m"]
    await admission.acquire(served, REQ, 1)
    waiter = asyncio.create_task(admission.acquire(served, REQ, 2))
    assert not await settled(waiter)
    added = await Backend.objects.acreate(model=model, url="http://b/v1")
    await store.reload()
    assert await settled(waiter), "it waited for a release though the new backend had room"
    assert waiter.result().id == added.id


TWO = BackendInfo(id=7, url="http://b/v1", max_concurrency=2)
PAIR = ModelInfo("p", (TWO,))


async def test_batch_work_leaves_a_slot_free_that_an_interactive_request_takes_at_once():
    admission = Admission()
    line = await admission.acquire(PAIR, RouteRequest("p"), 1, "batch")
    waiting = asyncio.create_task(admission.acquire(PAIR, RouteRequest("p"), 1, "batch"))
    await asyncio.sleep(0)
    assert not waiting.done(), "a second batch line would take the last free slot"
    assert await admission.acquire(PAIR, RouteRequest("p"), 2) is TWO, "no wait for the user"
    admission.release("p", TWO)
    await asyncio.sleep(0)
    assert not waiting.done(), "with one batch line running, the other slot stays free"
    admission.release("p", line)
    assert await waiting is TWO


async def test_the_engines_own_slot_count_bounds_batch_work_below_the_backends_concurrency():
    admission = Admission()
    wide = BackendInfo(id=8, url="http://c/v1", max_concurrency=64)
    model = ModelInfo("w", (wide,))
    admission.engine_load[8] = EngineLoad(slots_total=2, slots_idle=2)
    await admission.acquire(model, RouteRequest("w"), 1, "batch")
    waiting = asyncio.create_task(admission.acquire(model, RouteRequest("w"), 1, "batch"))
    await asyncio.sleep(0)
    assert not waiting.done(), "llama-server has two slots: one stays free"
    waiting.cancel()


async def test_a_single_slot_backend_runs_batch_work_only_while_it_serves_nothing_else():
    admission = Admission()
    first = await admission.acquire(MODEL, REQ, 1, "batch")
    assert first is ONE
    admission.release("m", first)
    user = await admission.acquire(MODEL, REQ, 2)
    waiting = asyncio.create_task(admission.acquire(MODEL, REQ, 1, "batch"))
    await asyncio.sleep(0)
    assert not waiting.done()
    admission.release("m", user)
    assert await waiting is ONE


async def test_warm_ups_and_a_zero_headroom_are_not_held_back():
    admission = Admission(headroom=0)
    await admission.acquire(PAIR, RouteRequest("p"), 1, "batch")
    assert await admission.acquire(PAIR, RouteRequest("p"), 1, "batch") is TWO
    assert await Admission().acquire(MODEL, REQ, 0, "warmup") is ONE
