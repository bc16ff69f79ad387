"""What the data plane stores and counts for input it does not know: bounded, and never
one row per unauthenticated request (a Gateway in this process, so its buffer can be seen)."""

import asyncio
import logging
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async

from chungus.accounts.keyinfo import KeyInfo
from chungus.core.routes import BackendInfo, ModelInfo
from chungus.engines.adapter import EngineRequest, StreamTranslator
from chungus.engines.llamacpp.adapter import LlamaCppAdapter
from chungus.gateway.service import GatewayOptions
from chungus.telemetry.entries import UNKNOWN_MODEL
from chungus.telemetry.models import KeyRollup, RequestLog, RequestRollup
from chungus.telemetry.requestlog import LogBuffer
from chungus.testing.inprocess import asgi_client, in_process_gateway

SECRET = "sk-test-service-main"
# Never called: every request here is answered before a backend is chosen.
GEMMA = ModelInfo("gemma", (BackendInfo(1, "http://127.0.0.1:9/v1"),))
SAY = [{"role": "user", "content": "hi"}]


def gateway(logs=None, **key):
    return in_process_gateway(
        [GEMMA],
        {SECRET: KeyInfo(id=7, name="main", **key)},
        logs,
        GatewayOptions(max_body_bytes=16 * 1024 * 1024),
    )


def auth(secret=SECRET):
    return {"Authorization": f"Bearer {secret}"}


def stored():
    return (
        list(RequestLog.objects.values_list("model", "status").order_by("id")),
        set(RequestRollup.objects.values_list("model", flat=True)),
        set(KeyRollup.objects.values_list("model", flat=True)),
    )


@pytest.mark.django_db(transaction=True)
async def test_an_8_mb_model_name_is_stored_as_a_marker_and_still_counts_against_the_key():
    gw = gateway(rpm=3)
    huge = "m" * 8_000_000
    async with asgi_client(gw) as client:
        answers = [
            await client.post(
                "/v1/chat/completions", json={"model": huge, "messages": SAY}, headers=auth()
            )
            for _ in range(4)
        ]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert answers[0].json()["error"]["param"] == "model"
    assert len(answers[0].content) < 1000, "the 404 does not echo 8 MB back"
    assert await gw.logs.flush() == 4
    rows, per_model, per_key = await sync_to_async(stored)()
    # The 429 is decided before the body is read, so it names no model.
    assert rows == [(UNKNOWN_MODEL, 404)] * 3 + [("", 429)]
    assert per_model == per_key == {UNKNOWN_MODEL, ""}


async def test_a_bad_body_counts_against_the_key_too():
    gw = gateway(rpm=2)
    async with asgi_client(gw) as client:
        statuses = [
            (await client.post("/v1/chat/completions", content=b"{", headers=auth())).status_code
            for _ in range(3)
        ]
    assert statuses == [400, 400, 429]


@pytest.mark.django_db(transaction=True)
async def test_a_401_flood_larger_than_the_buffer_leaves_the_real_rows_alone(caplog):
    gw = gateway(LogBuffer(max_pending=5))
    body = {"model": "nobody", "messages": SAY}  # 404: never reaches an engine
    caplog.set_level(logging.WARNING, "chungus.gateway")
    async with asgi_client(gw) as client:
        assert (await client.post("/v1/chat/completions", json=body, headers=auth())).is_error
        for n in range(30):
            headers = auth(f"sk-wrong-{n}") if n % 2 else {}
            answer = await client.post("/v1/chat/completions", json=body, headers=headers)
            assert answer.status_code == 401
        assert (await client.post("/v1/chat/completions", json=body, headers=auth())).is_error
        metrics = (await client.get("/metrics")).text
    assert len(gw.logs.pending) == 2 and gw.logs.dropped == 0
    assert 'chungus_unauthenticated_requests_total{reason="invalid_api_key"} 15.0' in metrics
    assert 'chungus_unauthenticated_requests_total{reason="missing_api_key"} 15.0' in metrics
    refused = [r for r in caplog.records if "without a valid API key" in r.getMessage()]
    assert len(refused) == 1, "one sampled line, not one per request"
    assert await gw.logs.flush() == 2
    rows, _, _ = await sync_to_async(stored)()
    assert rows == [(UNKNOWN_MODEL, 404), (UNKNOWN_MODEL, 404)]


BUG = "a bug that mentions sk-secret-of-the-bug"
INTERNAL = {"message": "The server had an error processing your request.",
            "type": "api_error", "param": None, "code": "internal_error"}  # fmt: skip


class FakeBrokenTranslator(StreamTranslator):
    """A fake: a stream translator that fails on the first chunk (no real one does on cue)."""

    def feed(self, chunk: bytes) -> list[bytes]:
        raise KeyError(BUG)

    def end(self) -> list[bytes]:
        return []


class FakeBrokenAdapter(LlamaCppAdapter):
    """A fake: llama.cpp's real adapter with a bug in one step (`broken`), as a new engine
    adapter might have; the real adapters have none to show on cue."""

    def __init__(self, broken: str) -> None:
        super().__init__()
        self.broken = broken

    def request(
        self, endpoint: str, body: dict[str, Any], raw: bytes, upstream_model: str, stream: bool
    ) -> EngineRequest:
        if self.broken == "request":
            raise KeyError(BUG)
        return super().request(endpoint, body, raw, upstream_model, stream)

    def response(self, endpoint: str, data: dict[str, Any], model: str) -> dict[str, Any]:
        if self.broken == "response":
            raise KeyError(BUG)
        return super().response(endpoint, data, model)

    def stream(self, endpoint: str, model: str) -> StreamTranslator:
        if self.broken == "stream":
            raise KeyError(BUG)
        if self.broken == "feed":
            return FakeBrokenTranslator()
        return super().stream(endpoint, model)


def broken_gateway(llama, broken, **key):
    backend = BackendInfo(1, f"{llama.url}/v1", engine="llamacpp")
    model = ModelInfo("gemma", (backend,))
    gw = in_process_gateway([model], {SECRET: KeyInfo(id=7, name="main", **key)})
    gw.adapters["llamacpp"] = FakeBrokenAdapter(broken)
    return gw


async def tokens_used(gw):
    return await gw.limiter.tokens_used(KeyInfo(id=7, name="main", tpm=100_000))


def logged(gw):
    return [(e.status, e.error_type, e.key_name) for e in gw.logs.pending]


@pytest.mark.parametrize("broken", ["request", "response", "stream"])
async def test_an_adapter_that_raises_frees_the_slot_returns_the_tokens_and_logs_a_500(
    llama, broken
):
    gw = broken_gateway(llama, broken, tpm=100_000)
    body = {"model": "gemma", "messages": SAY, "max_tokens": 200, "stream": broken == "stream"}
    await gw.upstream.start()
    try:
        async with asgi_client(gw) as client:
            answer = await client.post("/v1/chat/completions", json=body, headers=auth())
    finally:
        await gw.upstream.close()
    assert answer.status_code == 500 and answer.json() == {"error": INTERNAL}
    assert "sk-secret" not in answer.text and "KeyError" not in answer.text
    assert gw.admission.in_flight_on([1]) == 0, "the backend's slot is free"
    assert await tokens_used(gw) < 100, "the ~200 tokens reserved were given back"
    assert logged(gw) == [(500, "internal_error", "main")]
    assert "sk-secret" not in repr(gw.logs.pending[0])


async def test_a_translator_that_raises_mid_stream_ends_it_with_an_internal_error(llama):
    gw = broken_gateway(llama, "feed")
    body = {"model": "gemma", "messages": SAY, "max_tokens": 4, "stream": True}
    await gw.upstream.start()
    try:
        async with asgi_client(gw) as client:
            answer = await client.post("/v1/chat/completions", json=body, headers=auth())
    finally:
        await gw.upstream.close()
    assert answer.status_code == 200  # the status line went before the first chunk
    last = answer.text.strip().split("\n\n")[-1]
    assert orjson.loads(last.removeprefix("data: ")) == {"error": INTERNAL}
    assert gw.admission.in_flight_on([1]) == 0
    assert gw.admission.breaker(1).failures == 0, "our bug is not the backend's failure"
    assert logged(gw) == [(500, "internal_error", "main")]


async def test_a_batch_line_through_a_broken_adapter_is_a_500_and_its_slot_is_freed(llama):
    gw = broken_gateway(llama, "response", tpm=100_000)
    key = KeyInfo(id=7, name="main", tpm=100_000, tier="batch")
    await gw.upstream.start()
    try:
        body = {"model": "gemma", "messages": SAY, "max_tokens": 200}
        status, answer = await gw.run(key, "chat/completions", body)
    finally:
        await gw.upstream.close()
    assert (status, answer) == (500, {"error": INTERNAL})
    assert gw.admission.in_flight_on([1]) == 0
    assert await tokens_used(gw) < 100
    assert logged(gw) == [(500, "internal_error", "main")]


async def test_a_warm_up_through_a_broken_adapter_is_a_500_and_its_slot_is_freed(llama):
    gw = broken_gateway(llama, "request")
    await gw.upstream.start()
    try:
        assert await gw.warm_up("gemma") == 500
    finally:
        await gw.upstream.close()
    assert gw.admission.in_flight_on([1]) == 0
    assert logged(gw) == [(500, "internal_error", "warm-up")]


async def test_a_warm_up_cancelled_while_the_engine_works_frees_the_slot_and_logs_it(
    fake_engine,
):
    hanging = BackendInfo(1, fake_engine, upstream_model="hang")
    gw = in_process_gateway([ModelInfo("hang", (hanging,))], {})
    await gw.upstream.start()
    try:
        warming = asyncio.ensure_future(gw.warm_up("hang"))
        while not gw.admission.in_flight_on([1]):
            await asyncio.sleep(0.01)
        warming.cancel()
        with pytest.raises(asyncio.CancelledError):
            await warming
    finally:
        await gw.upstream.close()
    assert gw.admission.in_flight_on([1]) == 0
    assert logged(gw) == [(499, "cancelled", "warm-up")]
