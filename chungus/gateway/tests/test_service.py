"""What the data plane stores and counts for input it does not know: bounded, and never
one row per unauthenticated request (a Gateway in this process, so its buffer can be seen)."""

import logging

import pytest
from asgiref.sync import sync_to_async

from chungus.accounts.keyinfo import KeyInfo
from chungus.core.routes import BackendInfo, ModelInfo
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
