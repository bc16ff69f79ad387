"""Lines claimed from the database under a lease, so any process with room runs them and a
process that dies loses nothing (blocking: call off the event loop).

A claim marks lines CLAIMED by one holder until `lease_until`; a line whose lease ran out is
claimable again. A result is written only where the line is still claimed by the holder
that ran it, so a line taken over after a lapsed lease is recorded once, by whoever holds it.
On PostgreSQL the claiming SELECT skips rows other processes are claiming (FOR UPDATE SKIP
LOCKED); SQLite has one writer at a time, so its claims never overlap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q

from chungus.batches.models import Batch, BatchLine, BatchStatus, LineState
from chungus.lib.dbthreads import fresh_connection


@dataclass(frozen=True, slots=True)
class Claimed:
    line_id: int
    batch_id: str
    api_key_id: int
    endpoint: str  # the gateway's: "chat/completions" or "completions"
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    line_id: int
    batch_id: str
    status_code: int | None  # None: no answer (the key is gone, say)
    response: Any
    error: dict[str, str] | None
    request_id: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


@fresh_connection
def any_running() -> bool:
    """Whether any batch is running or being cancelled: an idle server asks only this."""
    return Batch.objects.filter(
        status__in=(BatchStatus.IN_PROGRESS, BatchStatus.CANCELLING)
    ).exists()


@fresh_connection
def claim(holder: str, limit: int, lease: float) -> list[Claimed]:
    now = time.time()
    with transaction.atomic():
        runnable = BatchLine.objects.filter(batch__status=BatchStatus.IN_PROGRESS).filter(
            Q(state=LineState.QUEUED, lease_until__lte=now)
            | Q(state=LineState.CLAIMED, lease_until__lt=now)
        )
        if connection.features.has_select_for_update_skip_locked:
            runnable = runnable.select_for_update(skip_locked=True, of=("self",))
        ids = list(runnable.order_by("id").values_list("id", flat=True)[:limit])
        if not ids:
            return []
        BatchLine.objects.filter(id__in=ids).update(
            state=LineState.CLAIMED, claimed_by=holder, lease_until=now + lease
        )
        rows = BatchLine.objects.filter(id__in=ids).values_list(
            "id", "batch_id", "batch__api_key_id", "batch__endpoint", "body"
        )
        return [Claimed(i, b, k, e.removeprefix("/v1/"), body) for i, b, k, e, body in rows]


@fresh_connection
def renew(holder: str, line_ids: list[int], lease: float) -> None:
    """Extend the lease of lines this holder still runs."""
    BatchLine.objects.filter(id__in=line_ids, claimed_by=holder, state=LineState.CLAIMED).update(
        lease_until=time.time() + lease
    )


@fresh_connection
def requeue(holder: str, line_ids: list[int], delay: float) -> None:
    """Give lines back to the queue, not claimable for `delay` seconds (rate limited, say)."""
    BatchLine.objects.filter(id__in=line_ids, claimed_by=holder, state=LineState.CLAIMED).update(
        state=LineState.QUEUED, claimed_by="", lease_until=time.time() + delay
    )


@fresh_connection
def record(holder: str, outcomes: list[Outcome]) -> int:
    """Write results of lines this holder still holds; count them into their batches."""
    written = 0
    with transaction.atomic():
        for o in outcomes:
            done = BatchLine.objects.filter(
                id=o.line_id, claimed_by=holder, state=LineState.CLAIMED
            ).update(
                state=LineState.DONE, status_code=o.status_code, response=o.response,
                error=o.error, request_id=o.request_id,
            )  # fmt: skip
            if not done:
                continue  # its lease ran out and another holder has it
            written += 1
            ok = o.status_code == 200
            Batch.objects.filter(pk=o.batch_id).update(
                completed=F("completed") + int(ok), failed=F("failed") + int(not ok),
                prompt_tokens=F("prompt_tokens") + o.prompt_tokens,
                completion_tokens=F("completion_tokens") + o.completion_tokens,
            )  # fmt: skip
    return written
