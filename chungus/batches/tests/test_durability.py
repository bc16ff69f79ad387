"""Batches survive their processes: `kill -9` mid-batch then a restart ends with every line
once (SQLite and PostgreSQL), and two processes on one PostgreSQL share a batch. Lines are
answered by the real llama-server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import orjson
import psycopg
import pytest

from chungus.testing.openai_schema import validate
from chungus.testing.processes import ChungusProcess, LlamaServer, chungus_instance

LINES = 500


def line(n: int) -> bytes:
    body = {"model": "gemma", "messages": [{"role": "user", "content": f"Say {n}"}],
            "max_tokens": 1}  # fmt: skip
    return orjson.dumps({"custom_id": f"req-{n}", "method": "POST", "body": body,
                         "url": "/v1/chat/completions"}) + b"\n"  # fmt: skip


def instance(home: Path, llama: LlamaServer, database_url: str | None) -> ChungusProcess:
    env = {
        "CHUNGUS_BATCH_INTERVAL": "0.2",
        "CHUNGUS_BATCH_LEASE_SECONDS": "3",
        "CHUNGUS_FILES_DIR": str(home.parent / "shared-files"),  # as replicas must share it
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    site = chungus_instance(home, **env)
    return site


def prepare(site: ChungusProcess, llama: LlamaServer) -> None:
    site.cli("models", "add", "gemma", "--url", f"{llama.url}/v1", "--engine", "llamacpp")
    site.create_key("main")


def client(site: ChungusProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{site.url}/v1", api_key=site.keys["main"], max_retries=2)


def submit(site: ChungusProcess, count: int) -> str:
    api = client(site)
    data = b"".join(line(n) for n in range(count))
    uploaded = api.files.create(file=("batch.jsonl", data), purpose="batch")
    created = api.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    return created.id


def wait_until(site: ChungusProcess, batch_id: str, done: int, seconds: float = 600):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = client(site).batches.retrieve(batch_id)
        if batch.status == "completed" or batch.request_counts.completed >= done:
            return batch
        assert batch.status in ("in_progress", "finalizing"), batch
        time.sleep(0.2)
    raise AssertionError(f"{batch_id}: {batch.request_counts} after {seconds} s")


def output_ids(site: ChungusProcess, batch_id: str) -> list[str]:
    """The custom_ids of the output file, once the batch is completed (its last lines may
    be counted a moment before it is); every line's answer valid by OpenAI's spec."""
    deadline = time.monotonic() + 60
    while (batch := client(site).batches.retrieve(batch_id)).status != "completed":
        assert batch.status in ("in_progress", "finalizing") and time.monotonic() < deadline, batch
        time.sleep(0.2)
    assert batch.error_file_id is None and batch.output_file_id is not None, batch
    content = client(site).files.content(batch.output_file_id).read()
    rows = [orjson.loads(text) for text in content.splitlines()]
    for row in rows:
        assert row["error"] is None and row["response"]["status_code"] == 200, row
        validate("CreateChatCompletionResponse", row["response"]["body"])
    return [row["custom_id"] for row in rows]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
    else:
        yield request.getfixturevalue("postgres_url")


def test_kill_9_mid_batch_then_a_restart_ends_with_every_line_once(tmp_path, llama, database):
    site = instance(tmp_path / "home", llama, database)
    prepare(site, llama)
    site.start("--no-default-model")
    try:
        batch_id = submit(site, LINES)
        wait_until(site, batch_id, done=LINES // 5)
        assert site.process is not None
        site.process.kill()  # SIGKILL: no shutdown, claimed lines stay claimed
        site.process.wait()
        site.start("--no-default-model")
        wait_until(site, batch_id, done=LINES)
        ids = output_ids(site, batch_id)
        assert len(ids) == LINES and sorted(ids) == sorted(f"req-{n}" for n in range(LINES))
        counts = client(site).batches.retrieve(batch_id).request_counts
        assert (counts.total, counts.completed, counts.failed) == (LINES, LINES, 0)
    finally:
        site.stop()


def test_two_processes_on_one_postgresql_share_a_batch(tmp_path, llama, postgres_url):
    first = instance(tmp_path / "first", llama, postgres_url)
    prepare(first, llama)
    second = instance(tmp_path / "second", llama, postgres_url)
    second.keys = first.keys
    first.start("--no-default-model")
    second.start("--no-default-model")
    try:
        count = 300
        batch_id = submit(first, count)
        wait_until(second, batch_id, done=count)
        ids = output_ids(second, batch_id)
        assert len(ids) == count and len(set(ids)) == count
        with psycopg.connect(postgres_url) as db:
            holders = db.execute(
                "select count(distinct claimed_by) from batches_batchline where batch_id = %s",
                (batch_id,),
            ).fetchone()
        assert holders is not None and holders[0] == 2, "both processes ran lines"
    finally:
        first.stop()
        second.stop()
