"""chungus protollm-worker: answer protollm's RabbitMQ task queue through CHUNGUS."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

import uvloop
from django.core.management.base import CommandError

from chungus.core.commandline import ChungusCommand, positive_int
from chungus.gateway.routing.admission import TIERS


class Command(ChungusCommand):
    help = (
        "Consume protollm's task messages from a RabbitMQ queue and answer each through "
        "CHUNGUS's routing, writing protollm's job status and answer records into Redis: a "
        "drop-in for protollm's LLM-core workers. RabbitMQ: RABBITMQ_URL (or protollm's "
        "RABBIT_MQ_HOST, _PORT, _LOGIN, _PASSWORD); Redis: PROTOLLM_REDIS_URL (or protollm's "
        "REDIS_HOST and REDIS_PORT, else REDIS_URL). Stops cleanly on Ctrl-C or SIGTERM; a "
        "job it was answering goes back to the queue."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--queue", required=True, help="the queue protollm publishes to")
        parser.add_argument(
            "--redis-prefix", default="job-status",
            help="prefix of the status keys, <prefix>:<job_id> (protollm's "
            "REDIS_PREFIX_FOR_STATUS; default job-status)",
        )  # fmt: skip
        parser.add_argument(
            "--answer-prefix", default="job-answer",
            help="prefix of the answer keys (REDIS_PREFIX_FOR_ANSWER; default job-answer)",
        )  # fmt: skip
        parser.add_argument(
            "--key", required=True, dest="key_name",
            help="name of the API key the jobs run as: its limits apply, its logs show them",
        )  # fmt: skip
        parser.add_argument(
            "--model", help="model for jobs that name none (default: the only one served)"
        )
        parser.add_argument(
            "--tier", default="batch", choices=[t for t in TIERS if t != "warmup"],
            help="admission tier of the jobs (default batch: idle engine capacity only)",
        )  # fmt: skip
        parser.add_argument(
            "--concurrency", type=positive_int, default=4,
            help="jobs answered at once (RabbitMQ's prefetch; default 4)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        from redis.asyncio import Redis

        from chungus.batches import protollm
        from chungus.batches.protollm_worker import ProtollmWorker, WorkerOptions
        from chungus.lib.supervise import Loop
        from chungus.runtime.build import worker_runtime

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        env = dict(os.environ)
        amqp, redis = protollm.amqp_url(env), Redis.from_url(protollm.redis_url(env))
        worker_options = WorkerOptions(
            queue=options["queue"], status_prefix=options["redis_prefix"],
            answer_prefix=options["answer_prefix"], key_name=options["key_name"],
            model=options["model"], tier=options["tier"], concurrency=options["concurrency"],
        )  # fmt: skip
        runtime = worker_runtime()
        worker = ProtollmWorker(runtime.gateway, redis, worker_options)
        runtime.work.append(Loop("protollm", lambda: worker.consume(amqp)))

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            try:
                async with runtime.lifespan():  # the configuration read, the loops started
                    if worker.key() is None:
                        raise CommandError(f"no API key named {options['key_name']!r}")
                    self.stdout.write(
                        f"answering queue {options['queue']!r} as key {options['key_name']!r}"
                    )
                    self.stdout.flush()
                    await stop.wait()
            finally:
                await redis.aclose()
            self.stdout.write(f"stopped after {worker.answered} jobs")

        with (
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
            contextlib.suppress(KeyboardInterrupt),
        ):
            runner.run(main())
