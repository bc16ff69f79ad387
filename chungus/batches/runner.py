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

    async def run(self) -> None:
        """Until cancelled: work while there are lines, look again every `interval` else."""
        while True:
            beat()
            ran = await self.tick()
            if not ran:
                await asyncio.sleep(self.interval)

    async def tick(self) -> int:
        """One round: run a chunk of lines, end ready batches; how many lines ran."""
        if not await off_loop(claims.any_running)():
            return 0
        claimed = await off_loop(claims.claim)(self.holder, self.concurrency, self.lease)
        if claimed:
            keys = {k.id: k for k in self.gateway.store.current.keys.values()}
            renewing = asyncio.create_task(self._renew([c.line_id for c in claimed]))
            try:
                outcomes = await asyncio.gather(
                    *(self._one(c, keys.get(c.api_key_id)) for c in claimed)
                )
            finally:
                renewing.cancel()
            retry = [c.line_id for c, o in zip(claimed, outcomes, strict=True) if o is None]
            if retry:
                await off_loop(claims.requeue)(self.holder, retry, self.retry_seconds)
            done = [o for o in outcomes if o is not None]
            if done:
                await off_loop(claims.record)(self.holder, done)
        for batch_id in await off_loop(outputs.finish_ready)(self.holder):
            logger.info("batch %s ended", batch_id)
        return len(claimed)

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

    async def _renew(self, line_ids: list[int]) -> None:
        """Extend the chunk's lease every third of it; a failed renewal (the database
        away for a moment) is said and tried again, never the end of renewing."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await off_loop(claims.renew)(self.holder, line_ids, self.lease)
            except Exception:
                logger.warning("renewing the lease of %d batch lines failed; trying again",
                               len(line_ids), exc_info=True)  # fmt: skip
