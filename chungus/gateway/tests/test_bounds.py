"""Per-request bounds through the data plane: OpenAI's schema, a model's caps, a key's token
budget and engine settings (a Gateway in this process; behind it the real llama-server, or
the fake Ollama where no Ollama can run)."""

import asyncio
import subprocess
import sys

import httpx
import orjson
import pytest
from starlette.requests import Request

from chungus.accounts.keyinfo import KeyInfo
from chungus.core.routes import BackendInfo, ModelInfo, RequestCaps
from chungus.fleet.launchers.local import free_port
from chungus.gateway.responses import EventStream
from chungus.testing.inprocess import asgi_client, in_process_gateway
from chungus.testing.processes import stop_process, wait_http

SECRET = "sk-test-bounds"
KEY_ID = 11
SAY = [{"role": "user", "content": "Say hi"}]
# Never called: these requests are answered before a backend is chosen.
UNREACHABLE = ModelInfo("gemma", (BackendInfo(1, "http://127.0.0.1:9/v1"),))


def gateway(model, **key):
    return in_process_gateway([model], {SECRET: KeyInfo(id=KEY_ID, name="main", **key)})


def gemma(llama, **caps):
    backend = BackendInfo(1, f"{llama.url}/v1", engine="llamacpp")
    return ModelInfo("gemma", (backend,), caps=RequestCaps(**caps))


async def post(gw, body):
    async with asgi_client(gw) as client:
        return await client.post(
            "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {SECRET}"},
            timeout=120,
        )


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


async def tokens_used(gw, tpm):
    return await gw.limiter.tokens_used(KeyInfo(id=KEY_ID, name="k", tpm=tpm))


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"temperature": 5}, "temperature"),
        ({"top_p": 2}, "top_p"),
        ({"stop": ["1", "2", "3", "4", "5"]}, "stop"),
    ],
)
async def test_values_openai_refuses_are_400s_naming_the_field(change, param):
    response = await post(gateway(UNREACHABLE), {"model": "gemma", "messages": SAY, **change})
    error = error_of(response, 400)
    assert (error["param"], error["type"]) == (param, "invalid_request_error")


@pytest.mark.parametrize(
    ("change", "param"),
    [({"max_tokens": 4097}, "max_tokens"), ({"n": 9}, "n")],
)
async def test_a_request_over_the_models_caps_is_a_400_naming_the_field(change, param):
    capped = ModelInfo("gemma", UNREACHABLE.backends, caps=RequestCaps(4096, 8, 64))
    response = await post(gateway(capped), {"model": "gemma", "messages": SAY, **change})
    assert error_of(response, 400)["param"] == param


async def test_a_request_without_max_tokens_generates_at_most_the_models_cap(llama):
    gw = gateway(gemma(llama, max_output_tokens=3))
    await gw.upstream.start()
    try:
        body = {"model": "gemma", "messages": [{"role": "user", "content": "Count to 100"}]}
        answer = (await post(gw, body)).json()
    finally:
        await gw.upstream.close()
    assert answer["usage"]["completion_tokens"] <= 3
    assert answer["choices"][0]["finish_reason"] == "length"


async def test_ten_concurrent_requests_do_not_overshoot_the_keys_token_limit(llama):
    tpm = 150
    gw = gateway(gemma(llama), tpm=tpm)
    await gw.upstream.start()
    try:
        body = {"model": "gemma", "messages": SAY, "max_tokens": 8}
        answers = await asyncio.gather(*(post(gw, body) for _ in range(10)))
    finally:
        await gw.upstream.close()
    statuses = sorted(a.status_code for a in answers)
    served = [a.json()["usage"]["total_tokens"] for a in answers if a.status_code == 200]
    assert set(statuses) == {200, 429} and served
    assert sum(served) <= tpm + max(served), "more than one request's worth over the limit"


async def test_a_stream_cut_off_by_the_client_is_charged_for_what_was_streamed(llama):
    tpm = 100_000
    gw = gateway(gemma(llama), tpm=tpm)
    body = {"model": "gemma", "messages": [{"role": "user", "content": "Count to a thousand"}],
            "max_tokens": 1500, "stream": True}  # fmt: skip
    leave, events = asyncio.Event(), list[bytes]()

    async def receive():
        if not events:
            events.append(b"")
            return {"type": "http.request", "body": orjson.dumps(body), "more_body": False}
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        events.append(message.get("body", b""))
        if sum(e.count(b"data:") for e in events) >= 6:
            leave.set()  # the client goes away mid-answer, before any usage was sent

    headers = [(b"authorization", f"Bearer {SECRET}".encode())]
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
             "query_string": b"", "headers": headers}  # fmt: skip
    await gw.upstream.start()
    try:
        response = await gw.complete(Request(scope, receive), "chat/completions", chat=True)
        assert isinstance(response, EventStream)
        await response(scope, receive, send)
    finally:
        await gw.upstream.close()
    assert b'"usage"' not in b"".join(events)
    for _ in range(1000):  # settling runs in the background: until the reservation is gone
        used = await tokens_used(gw, tpm)
        if used < 1000:
            break
        await asyncio.sleep(0.01)
    assert 6 <= used < 200, f"charged {used}, not what was streamed (it reserved ~1500)"


@pytest.fixture(scope="module")
def fake_ollama():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chungus.testing.fake_ollama", "--port", str(port)]
    )
    wait_http(f"http://127.0.0.1:{port}/", 30, process)
    yield f"http://127.0.0.1:{port}"
    stop_process(process)


@pytest.mark.parametrize("allowed", [False, True], ids=["dropped", "allowed"])
async def test_engine_settings_that_affect_other_users_pass_only_where_allowed(
    fake_ollama, allowed
):
    backend = BackendInfo(1, fake_ollama, engine="ollama", upstream_model="llama3.2")
    model = ModelInfo("llama", (backend,), caps=RequestCaps(engine_options=allowed))
    gw = gateway(model)
    body = {"model": "llama", "messages": SAY, "keep_alive": -1, "temperature": 0.5,
            "options": {"num_ctx": 131072, "num_gpu": 0, "top_k": 3}}  # fmt: skip
    await gw.upstream.start()
    try:
        assert (await post(gw, body)).status_code == 200
    finally:
        await gw.upstream.close()
    seen = httpx.get(f"{fake_ollama}/_requests").json()[-1]
    assert ("keep_alive" in seen) is allowed
    assert ("num_gpu" in seen["options"]) is allowed and ("num_ctx" in seen["options"]) is allowed
    assert seen["options"]["top_k"] == 3 and seen["options"]["temperature"] == 0.5
