"""Two real llama-servers behind one model: one is killed under load, then restarted."""

import asyncio
import signal
import sqlite3
import time

import httpx
import pytest

from chungus.testing.processes import chungus_instance, start_llama_server, stop_process

SAY = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def duo(tmp_path, models_home):
    first = start_llama_server(models_home, alias="duo")
    second = start_llama_server(models_home, alias="duo")
    instance = chungus_instance(tmp_path / "home", CHUNGUS_HEALTH_INTERVAL="0.5")
    for server in (first, second):
        instance.cli("models", "add", "duo", "--url", f"{server.url}/v1", "--engine", "llamacpp")
    instance.create_key("load")
    instance.start("--no-default-model")
    servers = [first, second]
    yield instance, servers, models_home
    instance.stop()
    for server in servers:
        stop_process(server.process)


def rows(instance, where):
    with sqlite3.connect(instance.home / "chungus.sqlite3") as db:
        query = f"select id, status, backend, attempts from gateway_requestlog where {where}"
        return db.execute(query).fetchall()


def last_id(instance):
    return max((row[0] for row in rows(instance, "1 = 1")), default=0)


async def non_stream(client, results):
    response = await client.post(
        "/v1/chat/completions", json={"model": "duo", "messages": SAY, "max_tokens": 4}
    )
    results.append(response.status_code)


async def stream(client, endings):
    body = {"model": "duo", "messages": SAY, "max_tokens": 24, "stream": True}
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        text = "".join([part async for part in response.aiter_text()])
    last = text.strip().split("\n\n")[-1]
    endings.append(
        "done" if last == "data: [DONE]" else "error" if last.startswith('data: {"error"') else last
    )


async def load(instance, until, results, endings):
    headers = {"Authorization": f"Bearer {instance.keys['load']}"}
    async with httpx.AsyncClient(base_url=instance.url, headers=headers, timeout=60) as client:

        async def worker(kind):
            while not until.is_set():
                await (stream(client, endings) if kind == "stream" else non_stream(client, results))

        await asyncio.gather(worker("plain"), worker("plain"), worker("plain"), worker("stream"))


async def test_a_killed_backend_loses_no_request_and_takes_traffic_again_once_restarted(duo):
    instance, servers, models_home = duo
    second = servers[1]
    results: list[int] = []
    endings: list[str] = []
    until = asyncio.Event()
    running = asyncio.create_task(load(instance, until, results, endings))
    try:
        while len(results) < 8:
            await asyncio.sleep(0.05)
        second.process.send_signal(signal.SIGKILL)
        killed_at = len(results)
        while len(results) < killed_at + 12:
            await asyncio.sleep(0.05)
        second.process.wait()
        restarted = servers[1] = start_llama_server(models_home, alias="duo", port=second.port)
        back_at, mark = time.monotonic(), last_id(instance)
        on_restarted = f"id > {mark} and status = 200 and backend = '{restarted.url}/v1'"
        while time.monotonic() < back_at + 10 and not rows(instance, on_restarted):
            await asyncio.sleep(0.2)
        took_traffic_after = time.monotonic() - back_at
    finally:
        until.set()
        await running
    assert results and set(results) == {200}, f"failed non-stream requests: {results}"
    assert endings and set(endings) <= {"done", "error"}, endings
    assert rows(instance, "attempts > 1 and status = 200"), (
        "no request was retried on the other backend"
    )
    assert took_traffic_after < 10, "the restarted backend took no traffic within 10 s"
