"""chungus protollm-worker against the real RabbitMQ and Redis of this machine: jobs are
published and their status created exactly as protollm's backend does (broker.send_task,
RedisResultStorage.create_job_status), and answered by the real llama-server."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import pytest
import redis

from chungus.testing.processes import CHUNGUS, ChungusProcess, LlamaServer, chungus_instance

AMQP = os.environ.get("CHUNGUS_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS = os.environ.get("CHUNGUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, llama: LlamaServer) -> ChungusProcess:
    instance = chungus_instance(tmp_path_factory.mktemp("protollm-worker"))
    instance.cli("models", "add", "gemma", "--url", f"{llama.url}/v1", "--engine", "llamacpp")
    instance.create_key("protollm")
    return instance


class Deployment:
    """One protollm deployment's names: its queue and Redis prefixes, new for each test."""

    def __init__(self, site: ChungusProcess) -> None:
        tag = secrets.token_hex(4)
        self.site, self.queue = site, f"llm-api-queue-{tag}"
        self.status, self.answer = f"job-status-{tag}", f"job-answer-{tag}"
        self.redis = redis.Redis.from_url(REDIS)
        self.watching: dict[str, Watch] = {}  # job id: the statuses its record went through

    def worker(self, log: Path) -> subprocess.Popen[bytes]:
        args = ["protollm-worker", "--queue", self.queue, "--redis-prefix", self.status,
                "--answer-prefix", self.answer, "--key", "protollm"]  # fmt: skip
        env = {**self.site.env, "RABBITMQ_URL": AMQP, "PROTOLLM_REDIS_URL": REDIS}
        with log.open("ab") as out:
            process = subprocess.Popen([str(CHUNGUS), *args], env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while b"answering queue" not in log.read_bytes():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        return process

    def send(self, prompt: dict[str, Any], prompt_type: str = "chat_completion") -> str:
        """As protollm's backend: the pending status and the prompt into Redis, then the
        task to the queue, persistent, at the job's priority."""
        job_id = prompt["job_id"]
        pending = {"status": "pending", "last_update": "2026-12-07T10:00:00", "error": None,
                   "status_message": "Job is created", "is_completed": False}  # fmt: skip
        self.redis.set(f"{self.status}:{job_id}", json.dumps(pending))
        self.redis.set(f"prompt:{job_id}", json.dumps(prompt))
        self.watch(job_id)  # as a caller that waits, subscribed before the task is sent
        task = {"type": "task", "task": "generate", "args": [],
                "kwargs": {"prompt": prompt, "prompt_type": prompt_type}, "id": job_id,
                "retries": 0, "eta": None}  # fmt: skip
        self.publish(json.dumps(task).encode(), prompt.get("priority") or 1)
        return job_id

    def publish(self, body: bytes, priority: int = 1) -> None:
        async def go() -> None:
            connection = await aio_pika.connect(AMQP)
            async with connection:
                channel = await connection.channel()
                await self._declare(channel)
                message = aio_pika.Message(
                    body, priority=priority, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                )
                await channel.default_exchange.publish(message, routing_key=self.queue)

        asyncio.run(go())

    async def _declare(self, channel: aio_pika.abc.AbstractChannel) -> aio_pika.abc.AbstractQueue:
        """The queue as protollm's worker declares it (durable, x-max-priority 5)."""
        return await channel.declare_queue(
            self.queue, durable=True, arguments={"x-max-priority": 5}
        )

    def waiting(self) -> int:
        """Messages ready in the queue (none unacknowledged are counted)."""

        async def go() -> int:
            connection = await aio_pika.connect(AMQP)
            async with connection:
                queue = await self._declare(await connection.channel())
                return int(queue.declaration_result.message_count or 0)

        return asyncio.run(go())

    def record(self, job_id: str) -> dict[str, Any]:
        raw = self.redis.get(f"{self.status}:{job_id}")
        assert raw is not None
        return orjson.loads(raw)

    def watch(self, job_id: str) -> None:
        self.watching[job_id] = Watch(self, job_id)

    def wait_completed(self, job_id: str, seconds: float = 120) -> list[str]:
        """The statuses the job's record went through since it was watched, up to the one
        that completes it."""
        watch = self.watching.pop(job_id)
        watch.join(seconds)
        assert not watch.is_alive(), watch.seen
        assert watch.seen and self.record(job_id)["is_completed"], watch.seen
        return watch.seen

    def cleanup(self) -> None:
        async def go() -> None:
            connection = await aio_pika.connect(AMQP)
            async with connection:
                channel = await connection.channel()
                await channel.queue_delete(self.queue)

        asyncio.run(go())
        for key in self.redis.scan_iter(f"job-*-{self.queue[-8:]}:*"):
            self.redis.delete(key)


class Watch(threading.Thread):
    """As protollm's RedisResultStorage.wait_completeness: on the status key's
    subscription, the record read at each "set", at once (in a thread of its own, so a
    status is read before the next one replaces it), until it is completed."""

    def __init__(self, deployment: Deployment, job_id: str) -> None:
        super().__init__(daemon=True)
        self.deployment, self.job_id, self.seen = deployment, job_id, list[str]()
        self.pubsub = deployment.redis.pubsub()
        self.pubsub.subscribe(f"{deployment.status}:{job_id}")
        self.pubsub.get_message(timeout=5.0)  # the subscription is confirmed
        self.stopped = threading.Event()
        self.start()

    def run(self) -> None:
        try:
            while not self.stopped.is_set():
                message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                assert message["data"] == b"set"
                record = self.deployment.record(self.job_id)
                self.seen.append(record["status"])
                if record["is_completed"]:
                    return
        finally:
            self.pubsub.close()

    def stop(self) -> None:
        """Stops watching a job no longer waited for (the thread ends within a second)."""
        self.stopped.set()


@pytest.fixture
def deployment(site: ChungusProcess) -> Iterator[Deployment]:
    names = Deployment(site)
    yield names
    names.cleanup()


def chat(job_id: str, **meta: Any) -> dict[str, Any]:
    return {"job_id": job_id, "priority": None, "source": "local",
            "meta": {"temperature": 0.2, "tokens_limit": 8, "stop_words": None, "model": None,
                     **meta},
            "messages": [{"role": "user", "content": "Say hello"}]}  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(30)


def test_published_jobs_are_answered_into_redis_in_protollms_format(site, deployment, tmp_path):
    worker = deployment.worker(tmp_path / "worker.log")
    try:
        first = deployment.send(chat("job-chat"))
        single = {"job_id": "job-single", "priority": 3,
                  "meta": {"temperature": 0.2, "tokens_limit": 8}, "content": "Hi"}  # fmt: skip
        second = deployment.send(single, "single_generation")
        for job_id in (first, second):
            seen = deployment.wait_completed(job_id)
            assert seen[-1] == "completed" and "in_progress" in seen[:-1], seen
            record = deployment.record(job_id)
            assert record["error"] is None and record["status_message"]
            answer = orjson.loads(deployment.redis.get(f"{deployment.answer}:{job_id}"))
            assert set(answer) == {"result"} and isinstance(answer["result"], str)
            assert record["result"] == answer["result"]  # where older protollm reads it
        assert deployment.waiting() == 0
    finally:
        stop(worker)
    logged = [row for row in site.request_log() if row["key_name"] == "protollm"]
    assert len(logged) >= 2 and {row["model"] for row in logged} == {"gemma"}


def test_a_job_that_cannot_run_ends_in_protollms_error_record(site, deployment, tmp_path):
    worker = deployment.worker(tmp_path / "worker.log")
    try:
        job_id = deployment.send(chat("job-nobody", model="nobody"))
        assert deployment.wait_completed(job_id)[-1] == "error"
        error = deployment.record(job_id)["error"]
        assert error["type"] == "ValidationError" and "nobody" in error["msg"]
        assert deployment.redis.get(f"{deployment.answer}:{job_id}") is None
    finally:
        stop(worker)


def test_a_message_that_is_no_job_is_reported_and_not_redelivered(deployment, tmp_path):
    worker = deployment.worker(tmp_path / "worker.log")
    try:
        deployment.publish(b"{not json")
        bad = {"job_id": "job-bad", "meta": {}, "messages": "hello"}
        deployment.send(bad)
        assert deployment.wait_completed("job-bad")[-1] == "error"
        assert deployment.record("job-bad")["error"]["type"] == "ValidationError"
        job_id = deployment.send(chat("job-after"))  # the worker goes on
        assert deployment.wait_completed(job_id)[-1] == "completed"
        assert deployment.waiting() == 0
    finally:
        stop(worker)
    assert worker.returncode == 0


def test_a_worker_killed_mid_job_leaves_it_to_the_next(deployment, tmp_path):
    log = tmp_path / "worker.log"
    first = deployment.worker(log)
    long = chat("job-long", tokens_limit=1500, temperature=0.0)
    long["messages"] = [{"role": "user", "content": "Count from 1 to 1000, one number a line."}]
    job_id = deployment.send(long)
    deployment.watching.pop(job_id).stop()
    deadline = time.monotonic() + 60
    while deployment.record(job_id)["status"] != "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    first.kill()  # SIGKILL: the job was not answered, its message not acknowledged
    first.wait()
    assert not deployment.record(job_id)["is_completed"], "it finished before the kill"
    assert deployment.redis.get(f"{deployment.answer}:{job_id}") is None
    deployment.watch(job_id)
    second = deployment.worker(log)
    try:
        assert deployment.wait_completed(job_id, seconds=300)[-1] == "completed"
        answer = orjson.loads(deployment.redis.get(f"{deployment.answer}:{job_id}"))
        assert answer["result"]
        assert deployment.waiting() == 0
    finally:
        stop(second)
