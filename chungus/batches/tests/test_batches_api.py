"""The Batch API through the official openai client against a running CHUNGUS whose lines are
answered by the real llama-server; answers validated against OpenAI's spec."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches.batches_api import MAX_CREATE_BODY
from chungus.batches.tests.inprocess import batches_client
from chungus.testing.inprocess import in_process_gateway
from chungus.testing.openai_schema import validate
from chungus.testing.processes import ChungusProcess, LlamaServer, chungus_instance


def line(n: int, model: str = "gemma", **extra: object) -> bytes:
    body = {"model": model, "messages": [{"role": "user", "content": f"Say {n}"}],
            "max_tokens": 3}  # fmt: skip
    item = {"custom_id": f"req-{n}", "method": "POST", "url": "/v1/chat/completions",
            "body": body, **extra}  # fmt: skip
    return orjson.dumps(item) + b"\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, llama: LlamaServer) -> Iterator[ChungusProcess]:
    instance = chungus_instance(tmp_path_factory.mktemp("batches"), CHUNGUS_BATCH_INTERVAL="0.2")
    instance.cli("models", "add", "gemma", "--url", f"{llama.url}/v1", "--engine", "llamacpp")
    instance.create_users("alice", "bob")
    instance.create_key("alice", "--owner", "alice")
    instance.create_key("bob", "--owner", "bob")
    instance.start("--no-default-model")
    yield instance
    instance.stop()


def client(site: ChungusProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{site.url}/v1", api_key=site.keys[key], max_retries=0)


def submit(site: ChungusProcess, key: str, data: bytes) -> openai.types.Batch:
    api = client(site, key)
    uploaded = api.files.create(file=("batch.jsonl", data), purpose="batch")
    return api.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h",
        metadata={"project": "test"},
    )  # fmt: skip


def wait_for(site: ChungusProcess, key: str, batch_id: str, statuses: set[str], seconds=300):
    api, deadline = client(site, key), time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = api.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        time.sleep(0.3)
    raise AssertionError(f"batch {batch_id} still {batch.status}: {batch.request_counts}")


def test_a_batch_runs_to_completion_and_its_output_matches_the_spec(site):
    count = 40
    created = submit(site, "alice", b"".join(line(n) for n in range(count)))
    validate("Batch", created.model_dump(exclude_unset=True))
    assert created.status == "in_progress" and created.request_counts.total == count
    done = wait_for(site, "alice", created.id, {"completed", "failed"})
    validate("Batch", done.model_dump(exclude_unset=True))
    assert done.status == "completed", done
    assert (done.request_counts.completed, done.request_counts.failed) == (count, 0)
    assert done.metadata == {"project": "test"} and done.completed_at >= done.in_progress_at
    assert done.usage is not None and done.usage.output_tokens > 0
    assert done.error_file_id is None

    output = client(site, "alice").files.content(done.output_file_id).read()
    rows = [orjson.loads(text) for text in output.splitlines()]
    assert sorted(r["custom_id"] for r in rows) == sorted(f"req-{n}" for n in range(count))
    assert [r["custom_id"] for r in rows] == [f"req-{n}" for n in range(count)], "file order"
    for row in rows:
        assert row["error"] is None and row["response"]["status_code"] == 200
        validate("CreateChatCompletionResponse", row["response"]["body"])
    listed = client(site, "alice").batches.list()
    assert created.id in [b.id for b in listed.data]


def test_a_bad_file_fails_with_the_numbers_of_its_bad_lines(site):
    data = line(1) + b"{not json\n" + line(1) + line(4, model="nobody") + line(5)
    failed = submit(site, "alice", data)
    validate("Batch", failed.model_dump(exclude_unset=True))
    assert failed.status == "failed" and failed.failed_at
    errors = [(e.line, e.code, e.param) for e in failed.errors.data]
    assert errors == [
        (2, "invalid_json_line", None),
        (3, "duplicate_custom_id", "custom_id"),
        (4, "model_not_found", "body.model"),
    ]


def test_another_tenants_batch_and_file_are_not_found(site):
    theirs = submit(site, "alice", line(1))
    bob = client(site, "bob")
    with pytest.raises(openai.NotFoundError):
        bob.batches.retrieve(theirs.id)
    with pytest.raises(openai.NotFoundError):
        bob.batches.cancel(theirs.id)
    with pytest.raises(openai.NotFoundError):
        bob.batches.create(
            input_file_id=theirs.input_file_id, endpoint="/v1/chat/completions",
            completion_window="24h",
        )  # fmt: skip
    assert theirs.id not in [b.id for b in bob.batches.list()]


def test_bad_requests_name_the_field(site):
    api = client(site, "bob")
    uploaded = api.files.create(file=("b.jsonl", line(1)), purpose="batch")
    changes: list[tuple[dict[str, Any], str]] = [
        ({"endpoint": "/v1/images"}, "endpoint"),
        ({"completion_window": "1h"}, "completion_window"),
        ({"metadata": {"k": 5}}, "metadata"),
    ]
    for change, param in changes:
        ask: dict[str, Any] = {"input_file_id": uploaded.id, "endpoint": "/v1/chat/completions",
               "completion_window": "24h", **change}  # fmt: skip
        with pytest.raises(openai.BadRequestError) as error:
            api.batches.create(**ask)
        assert error.value.body["param"] == param  # type: ignore[index]


def test_a_cancelled_batch_ends_with_every_line_accounted_for(site):
    count = 30
    created = submit(site, "bob", b"".join(line(n) for n in range(count)))
    cancelling = client(site, "bob").batches.cancel(created.id)
    assert cancelling.status in ("cancelling", "cancelled")
    ended = wait_for(site, "bob", created.id, {"cancelled"})
    validate("Batch", ended.model_dump(exclude_unset=True))
    api = client(site, "bob")
    lines = []
    for file_id in (ended.output_file_id, ended.error_file_id):
        if file_id:
            lines += [orjson.loads(t) for t in api.files.content(file_id).read().splitlines()]
    assert sorted(r["custom_id"] for r in lines) == sorted(f"req-{n}" for n in range(count))
    never = [r for r in lines if r["error"] and r["error"]["code"] == "batch_cancelled"]
    assert never, "some lines never ran"
    counts = ended.request_counts
    assert counts.completed + counts.failed == count
    with pytest.raises(openai.APIStatusError) as error:
        api.batches.cancel(created.id)
    assert error.value.status_code == 409


SECRET = "sk-test-batches-api"


def in_process():
    return in_process_gateway([], {SECRET: KeyInfo(id=9, name="batches")})


async def test_a_creation_body_over_the_limit_is_a_413_and_is_not_read_whole():
    huge = b'{"metadata": "' + b"x" * (MAX_CREATE_BODY + 1) + b'"}'
    auth = {"Authorization": f"Bearer {SECRET}"}
    async with batches_client(in_process()) as client:
        declared = await client.post("/v1/batches", content=huge, headers=auth)

        async def chunks():
            for start in range(0, len(huge), 8192):
                yield huge[start : start + 8192]

        streamed = await client.post("/v1/batches", content=chunks(), headers=auth)
    for answer in (declared, streamed):
        assert answer.status_code == 413, answer.text
        error = answer.json()["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "request_too_large")


async def test_a_401_on_batches_is_counted_as_the_completions_count_theirs():
    gateway, wrong = in_process(), {"Authorization": "Bearer no"}
    async with batches_client(gateway) as client:
        assert (await client.get("/v1/batches")).status_code == 401
        assert (await client.post("/v1/batches", json={}, headers=wrong)).status_code == 401
        assert (await client.get("/v1/batches/batch_x", headers=wrong)).status_code == 401
    count = gateway.metrics.get_sample_value
    assert count("chungus_unauthenticated_requests_total", {"reason": "missing_api_key"}) == 1
    assert count("chungus_unauthenticated_requests_total", {"reason": "invalid_api_key"}) == 2
    assert not gateway.logs.pending
