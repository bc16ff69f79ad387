"""The loop that runs batch lines in every CHUNGUS process: claim a chunk, send each line
through the gateway at the batch tier (below interactive traffic in every model's queue),
record the answers, end the batches that are ready.

A line refused for the key's token limit (429) or for want of room (503) goes back to the
queue for a while instead of failing: a batch has 24 hours, and it is the work that waits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches import claims, outputs
from chungus.batches.claims import Claimed, Outcome
from chungus.gateway.service import Gateway
from chungus.lib.dbthreads import off_loop
from chungus.lib.supervise import beat

logger = logging.getLogger("chungus.batches")
RETRY_STATUSES = (429, 503)


def key_refusal(key: KeyInfo | None, now: float) -> dict[str, str] | None:
    """Why a batch's lines may no longer run for its key (its error line's `error`), None
    while they may: the key must still be usable on /v1, as gateway.auth checks it (pure)."""
    if key is None:
        return {"code": "invalid_api_key", "message": "The batch's API key no longer exists."}
    if not key.active:
        return {
            "code": "revoked_api_key",
            "message": "The batch's API key was revoked, or its owner deactivated.",
        }
    if key.expires_at is not None and key.expires_at <= now:
        return {"code": "expired_api_key", "message": "The batch's API key has expired."}
    return None


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class BatchRunner:
    def __init__(
        self,
        gateway: Gateway,
        concurrency: int = 8,
        lease: float = 120.0,
        interval: float = 1.0,
        retry_seconds: float = 5.0,
    ) -> None:
        self.gateway = gateway
        self.concurrency = concurrency
        self.lease = lease
        self.interval = interval
        self.retry_seconds = retry_seconds
        self.holder = holder_name()
        self.running: dict[asyncio.Task[Outcome | None], Claimed] = {}
        self._finished_at = 0.0

    async def run(self) -> None:
        """Until cancelled: keep `concurrency` lines running, claiming more as each ends (no
        line waits for the slowest of a chunk); look again every `interval` while idle."""
        renewing = asyncio.create_task(self._renew(self._running_ids))
        try:
            while True:
                beat()
                await self.fill()
                if not self.running:
                    await asyncio.sleep(self.interval)
                    continue
                done, _ = await asyncio.wait(
                    self.running, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED
                )
                await self._settle(done)
        finally:
            renewing.cancel()
            for task in self.running:  # their leases run out: the lines run again
                task.cancel()
            self.running.clear()

    async def tick(self) -> int:
        """One round (for tests and tools): claim what there is room for, run it to the end,
        end ready batches; how many lines ran."""
        ran = await self.fill()
        while self.running:
            done, _ = await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
            await self._settle(done)
        await self._finish_ready(force=True)
        return ran

    async def fill(self) -> int:
        """Claim lines for the free room and start them; how many started."""
        room = self.concurrency - len(self.running)
        if room <= 0 or not await off_loop(claims.any_running)():
            return 0
        claimed = await off_loop(claims.claim)(self.holder, room, self.lease)
        if not claimed and not self.running:  # none left to run: batches may be ready to end
            await self._finish_ready(force=True)
        if claimed:
            keys = {k.id: k for k in self.gateway.store.current.keys.values()}
            for line in claimed:
                task = asyncio.create_task(self._one(line, keys.get(line.api_key_id)))
                self.running[task] = line
        return len(claimed)

    def _running_ids(self) -> list[int]:
        return [line.line_id for line in self.running.values()]

    async def _settle(self, done: set[asyncio.Task[Outcome | None]]) -> None:
        """Record the lines that ended (one write for all of them), requeue those to wait."""
        outcomes: list[Outcome] = []
        retry: list[int] = []
        for task in done:
            line = self.running.pop(task)
            outcome = None
            if not task.cancelled() and (failure := task.exception()) is not None:
                logger.warning("batch line %d failed; it is tried again", line.line_id,
                               exc_info=failure)  # fmt: skip
            elif not task.cancelled():
                outcome = task.result()
            if outcome is None:
                retry.append(line.line_id)
            else:
                outcomes.append(outcome)
        if retry:
            await off_loop(claims.requeue)(self.holder, retry, self.retry_seconds)
        if outcomes:
            await off_loop(claims.record)(self.holder, outcomes)
            await self._finish_ready()

    async def _finish_ready(self, force: bool = False) -> None:
        """End the batches whose lines are all done: at most every `interval` while lines
        run (one query), at once when asked."""
        now = time.monotonic()
        if not force and now - self._finished_at < self.interval:
            return
        self._finished_at = now
        for batch_id in await off_loop(outputs.finish_ready)(self.holder):
            logger.info("batch %s ended", batch_id)

    async def _one(self, line: Claimed, key: KeyInfo | None) -> Outcome | None:
        """Run one line; None when it should wait and be tried again."""
        request_id = f"req_{secrets.token_hex(12)}"
        error = key_refusal(key, time.time())
        if error is not None or key is None:
            return Outcome(line.line_id, line.batch_id, None, None, error, request_id)
        status, answer = await self.gateway.run(
            replace(key, tier="batch"), line.endpoint, line.body
        )
        if status in RETRY_STATUSES:
            return None
        usage: dict[str, Any] = answer.get("usage") or {} if isinstance(answer, dict) else {}
        return Outcome(
            line.line_id, line.batch_id, status, answer, None, request_id,
            int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
        )  # fmt: skip

    async def _renew(self, line_ids: Callable[[], list[int]]) -> None:
        """Extend the lease of the running lines every third of it; a failed renewal (the
        database away for a moment) is said and tried again, never the end of renewing."""
        while True:
            await asyncio.sleep(self.lease / 3)
            running = line_ids()
            if not running:
                continue
            try:
                await off_loop(claims.renew)(self.holder, running, self.lease)
            except Exception:
                logger.warning("renewing the lease of %d batch lines failed; trying again",
                               len(running), exc_info=True)  # fmt: skip
