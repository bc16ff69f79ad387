"""The batch runner: lines of a key that may no longer be used on /v1 (expired, revoked, its
owner deactivated, deleted) fail with an error line per custom_id instead of running (a
Gateway in this process over real database rows; no line reaches an engine)."""

from __future__ import annotations

import io
import time
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches import batches, files
from chungus.batches.models import Batch, BatchStatus
from chungus.batches.runner import BatchRunner, key_refusal
from chungus.batches.storage import file_path
from chungus.core.routes import BackendInfo, ModelInfo
from chungus.testing.inprocess import in_process_gateway

# Never called: the lines of a refused key never reach a backend.
GEMMA = ModelInfo("gemma", (BackendInfo(1, "http://127.0.0.1:9/v1"),))
LINES = 3


def line(n: int) -> bytes:
    body = {"model": "gemma", "messages": [{"role": "user", "content": f"Say {n}"}]}
    item = {"custom_id": f"req-{n}", "method": "POST", "url": "/v1/chat/completions",
            "body": body}  # fmt: skip
    return orjson.dumps(item) + b"\n"


def submit(key: KeyInfo) -> str:
    data = io.BytesIO(b"".join(line(n) for n in range(LINES)))
    uploaded = files.store(key, "in.jsonl", "batch", data)
    body = {"input_file_id": uploaded["id"], "endpoint": "/v1/chat/completions"}
    created = batches.create(key, body, lambda name: None, 100)
    assert created["status"] == "in_progress"
    return str(created["id"])


def error_lines(batch_id: str) -> tuple[Batch, list[dict[str, Any]]]:
    batch = Batch.objects.get(pk=batch_id)
    assert batch.error_file_id and not batch.output_file_id
    text = file_path(batch.error_file_id).read_bytes()
    return batch, [orjson.loads(row) for row in text.splitlines()]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("change", "code"),
    [({"expires_at": 1.0}, "expired_api_key"), ({"active": False}, "revoked_api_key")],
    ids=["expired", "revoked"],
)
async def test_the_lines_of_a_key_that_may_no_longer_be_used_fail_with_an_error_line_each(
    change, code
):
    usable = KeyInfo(id=21, name="batch-key")
    batch_id = await sync_to_async(submit)(usable)
    gateway = in_process_gateway([GEMMA], {"sk-runner": KeyInfo(id=21, name="batch-key", **change)})
    runner = BatchRunner(gateway)
    assert await runner.tick() == LINES
    batch, rows = await sync_to_async(error_lines)(batch_id)
    assert batch.status == BatchStatus.COMPLETED
    assert (batch.completed, batch.failed) == (0, LINES)
    assert sorted(r["custom_id"] for r in rows) == [f"req-{n}" for n in range(LINES)]
    for row in rows:
        assert row["response"] is None
        assert row["error"]["code"] == code and row["error"]["message"]
    assert not gateway.logs.pending, "no line was sent through the gateway"


def test_a_key_is_refused_for_batch_lines_as_it_would_be_on_v1():
    now = time.time()
    assert key_refusal(KeyInfo(id=1, name="k"), now) is None
    assert key_refusal(KeyInfo(id=1, name="k", expires_at=now + 60), now) is None
    assert key_refusal(KeyInfo(id=1, name="k", expires_at=now), now) == {
        "code": "expired_api_key", "message": "The batch's API key has expired.",
    }  # fmt: skip
    assert key_refusal(None, now)["code"] == "invalid_api_key"  # type: ignore[index]
    assert key_refusal(KeyInfo(id=1, name="k", active=False), now)["code"] == "revoked_api_key"  # type: ignore[index]


async def test_a_failed_lease_renewal_is_tried_again_not_the_end_of_renewing(monkeypatch):
    import asyncio

    from chungus.batches import claims

    calls: list[list[int]] = []

    def flaky_renew(holder: str, line_ids: list[int], lease: float) -> None:
        calls.append(line_ids)
        if len(calls) == 1:
            raise ConnectionError("the database went away for a moment")

    monkeypatch.setattr(claims, "renew", flaky_renew)
    runner = BatchRunner(in_process_gateway([GEMMA], {}), lease=0.03)
    renewing = asyncio.create_task(runner._renew(lambda: [1, 2]))
    await asyncio.sleep(0.1)
    assert not renewing.done(), "the failure did not end it"
    renewing.cancel()
    assert len(calls) >= 2, "renewing went on after the failure"
