"""A drop-in protollm LLM-core worker: consumes the task messages protollm's backend
publishes to RabbitMQ, answers each through CHUNGUS's gateway (the key's limits, routing,
the admission queue at the worker's tier, the request log), and writes protollm's job status
and answer records into Redis, publishing "set" on the status key as protollm's storage does.

A message is acknowledged only after its records are written: a worker killed mid-job leaves
it unacknowledged, and RabbitMQ hands it to the next worker. One that cannot be a job (not
JSON, no prompt) is reported in its status record when its id can be read, and rejected
without requeueing, so it cannot come back forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches import protollm
from chungus.batches.prompt_jobs_api import output_cap
from chungus.batches.runner import RETRY_STATUSES, key_refusal
from chungus.gateway.service import Gateway
from chungus.lib.openai_errors import InvalidRequest, RateLimited
from chungus.lib.supervise import beat

if TYPE_CHECKING:
    from aio_pika.abc import AbstractIncomingMessage
    from redis.asyncio import Redis

logger = logging.getLogger("chungus.protollm")
MAX_PRIORITY = 5  # protollm declares its queue with x-max-priority 5


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    queue: str
    status_prefix: str = "job-status"
    answer_prefix: str = "job-answer"
    key_name: str = ""
    model: str | None = None
    tier: str = "batch"
    concurrency: int = 4
    retry_seconds: float = 5.0


class ProtollmWorker:
    def __init__(self, gateway: Gateway, redis: Redis, options: WorkerOptions) -> None:
        self.gateway, self.redis, self.options = gateway, redis, options
        self.answered = 0

    def key(self) -> KeyInfo | None:
        name = self.options.key_name
        return next((k for k in self.gateway.store.current.keys.values() if k.name == name), None)

    async def consume(self, amqp_url: str) -> None:
        """Until cancelled: take up to `concurrency` messages at a time and answer them."""
        import aio_pika

        connection = await aio_pika.connect_robust(amqp_url)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.options.concurrency)
            queue = await channel.declare_queue(
                self.options.queue, durable=True, arguments={"x-max-priority": MAX_PRIORITY}
            )
            working: set[asyncio.Task[None]] = set()
            async with queue.iterator() as messages:
                async for message in messages:
                    beat()
                    task = asyncio.create_task(self.handle(message))
                    working.add(task)
                    task.add_done_callback(working.discard)
        finally:
            await connection.close()

    async def handle(self, message: AbstractIncomingMessage) -> None:
        try:
            job = protollm.parse_task(message.body)
        except InvalidRequest as exc:
            await self._bad_message(message, str(exc))
            return
        try:
            done = await self.answer(job)
        except Exception:
            logger.warning("job %s: could not write its records; it goes back to the queue",
                           job.job_id, exc_info=True)  # fmt: skip
            done = False
        if done:
            await message.ack()
            self.answered += 1
        else:
            await asyncio.sleep(self.options.retry_seconds)
            await message.nack(requeue=True)

    async def answer(self, job: protollm.PromptJob) -> bool:
        """Run the job and write its records; False when it must wait for another try."""
        key = self.key()
        refusal = key_refusal(key, time.time())
        if refusal is not None or key is None:
            message = refusal["message"] if refusal else "no key"
            await self._write(
                job.job_id, protollm.ERROR, error={"type": "Exception", "msg": message}
            )
            return True
        await self._write(job.job_id, protollm.IN_PROGRESS, "working")
        try:
            model = protollm.choose_model(
                job, self.options.model, set(self.gateway.store.current.models)
            )
        except InvalidRequest as exc:
            await self._write(
                job.job_id, protollm.ERROR, error={"type": "ValidationError", "msg": exc.message}
            )
            return True
        status, body = await self._run(replace(key, tier=self.options.tier), job, model)
        if status in RETRY_STATUSES:
            return False
        if status == 200:
            text = protollm.content_of(body)
            await self.redis.set(
                f"{self.options.answer_prefix}:{job.job_id}", protollm.answer_record(text)
            )
            await self._write(job.job_id, protollm.COMPLETED, "done", result=text)
        else:
            await self._write(job.job_id, protollm.ERROR, error=protollm.error_of(status, body))
        return True

    async def _run(self, key: KeyInfo, job: protollm.PromptJob, model: str) -> tuple[int, Any]:
        try:
            await self.gateway.limiter.admit(key)  # counted as every request is
        except RateLimited as exc:
            return exc.status, exc.envelope()
        body = job.chat_body(model, output_cap(self.gateway, model))
        return await self.gateway.run(key, "chat/completions", body)

    async def _write(
        self,
        job_id: str,
        status: str,
        message: str = "",
        *,
        result: str | None = None,
        error: dict[str, str] | None = None,
    ) -> None:
        channel = f"{self.options.status_prefix}:{job_id}"
        record = protollm.status_record(status, message, time.time(), result=result, error=error)
        await self.redis.set(channel, record)
        await self.redis.publish(channel, "set")

    async def _bad_message(self, message: AbstractIncomingMessage, why: str) -> None:
        job_id = protollm.task_job_id(message.body)
        logger.warning("rejected a message that is not a protollm job (%s): %s", job_id, why)
        if job_id is not None:
            try:
                await self._write(
                    job_id, protollm.ERROR, error={"type": "ValidationError", "msg": why}
                )
            except Exception:
                logger.warning("job %s: could not write its error record", job_id, exc_info=True)
        await message.reject(requeue=False)
