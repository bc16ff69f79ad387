"""Draining: when it is over, counting requests in flight (ours and the engine's own)."""

import asyncio
import threading

import aiohttp
import httpx
from aiohttp import web

from chungus.fleet.launchers.local import free_port
from chungus.fleet.lifecycle.drain import DrainPolicy, Replica, drain, engine_in_flight, finished
from chungus.testing.recording_engine import make_app

POLICY = DrainPolicy(grace=1.0, timeout=5.0, poll=0.01)


def test_draining_lasts_at_least_the_grace_period():
    assert finished(0.5, 0, POLICY) is None


def test_draining_ends_when_nothing_is_in_flight_after_the_grace_period():
    assert finished(1.2, 0, POLICY) == "drained in 1.2 s"


def test_draining_waits_for_requests_in_flight():
    assert finished(3.0, 2, POLICY) is None


def test_draining_gives_up_at_the_timeout():
    assert finished(5.0, 2, POLICY) == "drain timed out after 5 s with 2 request(s) in flight"


async def test_drain_waits_for_this_process_requests_and_reports_progress():
    counts = iter([2, 2, 1, 0])
    seen = []
    clock = []

    async def progress(text):
        seen.append(text)

    async def no_wait(seconds):
        clock.append(seconds)
        await asyncio.sleep(0)

    replica = Replica("http://127.0.0.1:9", "openai", backend_ids=(7,))
    quick = DrainPolicy(grace=0.0, timeout=30.0, poll=0.01)
    ended = await drain([replica], lambda ids: next(counts), quick, progress, sleep=no_wait)
    assert ended.startswith("drained in")
    assert seen == ["2 request(s) in flight", "1 request(s) in flight"]
    assert len(clock) == 3


async def test_the_engine_reports_its_own_requests_in_flight(llama):
    replica = Replica(llama.url, "llamacpp")
    async with aiohttp.ClientSession() as session:
        assert await engine_in_flight(session, replica) == 0
        started = threading.Event()

        def generate():
            body = {
                "model": llama.alias,
                "messages": [{"role": "user", "content": "Count from 1 to 500."}],
                "max_tokens": 400,
                "stream": True,
            }
            with httpx.stream(
                "POST", f"{llama.url}/v1/chat/completions", json=body, timeout=120
            ) as response:
                for _ in response.iter_lines():
                    started.set()

        worker = threading.Thread(target=generate)
        worker.start()
        await asyncio.to_thread(started.wait, 60)
        assert await engine_in_flight(session, replica) == 1
        worker.join()
        assert await engine_in_flight(session, replica) == 0


async def test_an_engine_that_does_not_report_counts_as_unknown():
    async with aiohttp.ClientSession() as session:
        assert await engine_in_flight(session, Replica("http://127.0.0.1:9", "ollama")) is None
        assert await engine_in_flight(session, Replica("http://127.0.0.1:9", "vllm")) is None


async def test_an_engine_with_a_secret_is_asked_for_its_load_with_it():
    """The engine is chungus.testing.recording_engine: it wants the key and records it."""
    runner = web.AppRunner(make_app("replica-secret"))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        replica = Replica(f"http://127.0.0.1:{port}", "llamacpp", (1,), "replica-secret")
        async with aiohttp.ClientSession() as session:
            assert await engine_in_flight(session, replica) == 0  # it answered: 0 running
            seen = await (await session.get(f"http://127.0.0.1:{port}/_seen")).json()
    finally:
        await runner.cleanup()
    assert {s["authorization"] for s in seen} == {"Bearer replica-secret"}
    assert "replica-secret" not in repr(replica)
