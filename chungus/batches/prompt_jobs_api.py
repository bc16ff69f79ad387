"""protollm's job API on CHUNGUS: `POST /generate` and `POST /chat_completion` answer
`{"content": …}` when the job is done, as protollm's backend does; `GET /jobs/{job_id}` (and
protollm's own `POST /check_status?job_id=`) tell its status and result.

A job runs once per tenant and job id: a repeated id answers what is stored, or waits for the
run in progress (joining it in this process, polling the database for another's), so the
engine is never asked twice. A job outlives its caller: one that hangs up (or asked with
`?wait=false`, answered 202 at once) finds the result under `/jobs/{job_id}` later. Keys,
limits, routing and the request log are /v1's: the job is a chat completion at the key's tier.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from django.conf import settings
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches import prompt_jobs, protollm
from chungus.batches.callers import Callers
from chungus.batches.prompt_jobs import Stored
from chungus.batches.runner import RETRY_STATUSES, holder_name
from chungus.gateway.auth import authorize_model
from chungus.gateway.responses import json_response
from chungus.gateway.service import Gateway, read_body
from chungus.lib.dbthreads import off_loop
from chungus.lib.openai_errors import InvalidRequest, NotFound, error_envelope, error_type
from chungus.telemetry.entries import bounded_text

logger = logging.getLogger("chungus.batches")
PATHS = ("/generate", "/chat_completion", "/check_status")  # besides /jobs/{job_id}
Outcome = tuple[int, Any]  # the status and the body to answer


class JobRuns:
    """The jobs this process runs, by tenant and id; each holds its lease while it runs."""

    def __init__(self, callers: Callers, lease: float = 60.0, poll: float = 0.5) -> None:
        self.gateway = callers.gateway
        self.lease, self.poll = lease, poll
        self.holder = holder_name()
        self.running: dict[tuple[str, str], asyncio.Task[Outcome]] = {}

    def default_model(self) -> str | None:
        name = settings.CHUNGUS_DEFAULT_MODEL_NAME
        return name if name in self.gateway.store.current.models else None

    async def outcome(self, key: KeyInfo, job: protollm.PromptJob, wait: bool) -> Outcome:
        """Run the job, join its run, or answer what is stored."""
        snapshot = self.gateway.store.current
        model = protollm.choose_model(job, self.default_model(), set(snapshot.models))
        if model not in snapshot.models:  # refused before anything is stored, as on /v1
            raise NotFound(f"The model '{bounded_text(model, 200)}' does not exist.",
                           param="model", code="model_not_found")  # fmt: skip
        authorize_model(key, model)
        while True:
            ident = (prompt_jobs.tenant_of(key), job.job_id)
            task = self.running.get(ident)
            if task is None:
                begun, stored = await off_loop(prompt_jobs.begin)(
                    key, job, model, self.holder, self.lease, time.time()
                )
                if begun == "done":
                    assert stored is not None
                    return answer(job.job_id, stored)
                if begun == "run":
                    task = asyncio.create_task(self._run(key, job, model))
                    self.running[ident] = task
            if not wait:
                return 202, protollm.async_response(job.job_id, protollm.IN_PROGRESS, None, None)
            if task is not None:
                return await asyncio.shield(task)  # the job goes on if the caller hangs up
            await asyncio.sleep(self.poll)  # another process runs it

    async def _run(self, key: KeyInfo, job: protollm.PromptJob, model: str) -> Outcome:
        try:
            return await self._answer(key, job, model)
        finally:  # stored by now: a later call finds it in the database
            self.running.pop((prompt_jobs.tenant_of(key), job.job_id), None)

    async def _answer(self, key: KeyInfo, job: protollm.PromptJob, model: str) -> Outcome:
        renewing = asyncio.create_task(self._renew(key, job.job_id))
        try:
            body = job.chat_body(model, output_cap(self.gateway, model))
            status, body = await self.gateway.run(key, "chat/completions", body)
        finally:
            renewing.cancel()
        try:
            if status == 200:
                text = protollm.content_of(body)
                await off_loop(prompt_jobs.finish)(key, job.job_id, self.holder, text, None)
                return 200, {"content": text}
            if status in RETRY_STATUSES:  # it did not run: a later call may
                await off_loop(prompt_jobs.release)(key, job.job_id, self.holder)
            else:
                error = {**protollm.error_of(status, body), "status": status}
                await off_loop(prompt_jobs.finish)(key, job.job_id, self.holder, None, error)
        except Exception:  # the database away: the answer still goes out, the lease runs out
            logger.warning("could not store protollm job %s", job.job_id, exc_info=True)
        return status, body

    async def _renew(self, key: KeyInfo, job_id: str) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await off_loop(prompt_jobs.renew)(key, job_id, self.holder, self.lease, time.time())
            except Exception:
                logger.warning("renewing protollm job %s failed; trying again", job_id)


def output_cap(gateway: Gateway, model: str) -> int:
    """The model's output cap (0: none, or the model is not served)."""
    info = gateway.store.current.models.get(model)
    return info.caps.max_output_tokens if info is not None else 0


def answer(job_id: str, stored: Stored) -> Outcome:
    """What a finished job answers: its content, or the error it ended with."""
    if stored.status == protollm.COMPLETED:
        return 200, {"content": stored.result or ""}
    error = stored.error or {}
    status = int(error.get("status") or 502)  # the status it failed with
    message = f"Job '{job_id}' failed: {error.get('msg', '')}"
    return status, error_envelope(message, error_type(status), None, "job_failed")


def job_routes(runs: JobRuns) -> list[BaseRoute]:
    """protollm's routes, at the root as protollm serves them."""
    callers = Callers(runs.gateway)

    def start(kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            key = await callers.key(request)
            raw = await read_body(request, runs.gateway.options.max_body_bytes)
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise InvalidRequest("The body is not valid JSON.") from None
            job = protollm.parse_job(body, kind)
            wait = request.query_params.get("wait", "true").lower() not in ("false", "0", "no")
            status, data = await runs.outcome(key, job, wait)
            return json_response(data, status)

        return handle

    async def status(request: Request) -> Response:
        key = await callers.key(request)
        job_id = request.path_params.get("job_id") or request.query_params.get("job_id", "")
        stored = await off_loop(prompt_jobs.lookup)(key, job_id) if job_id else None
        if stored is None:
            raise NotFound(f"No job '{job_id[: protollm.MAX_JOB_ID]}'.", param="job_id")
        return json_response(
            protollm.async_response(job_id, stored.status, stored.result, stored.error)
        )

    return [
        Route("/generate", start(protollm.GENERATE), methods=["POST"]),
        Route("/chat_completion", start(protollm.CHAT), methods=["POST"]),
        Route("/jobs/{job_id}", status, methods=["GET"]),
        Route("/check_status", status, methods=["POST", "GET"]),
    ]
