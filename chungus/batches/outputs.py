"""A batch's end: its output and error files written in OpenAI's line format, and its final
status (blocking: call off the event loop).

Ready to end: every line done (completed), past the window (expired: lines not done go to the
error file as expired), or cancelling with no line running any more (cancelled). One process
writes a batch's files, under a lease on the batch row, so none is written twice.
"""

from __future__ import annotations

import time
from typing import IO, Any

import orjson
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from chungus.batches.models import Batch, BatchLine, BatchStatus, File, LineState, Purpose
from chungus.batches.storage import file_path
from chungus.lib.dbthreads import fresh_connection

FINALIZE_LEASE = 600.0
UNFINISHED = {
    BatchStatus.EXPIRED: ("batch_expired", "The batch expired before this request ran."),
    BatchStatus.CANCELLED: ("batch_cancelled", "The batch was cancelled before this request ran."),
}


@fresh_connection
def finish_ready(holder: str) -> list[str]:
    """End every batch that is ready to; return their ids."""
    now, moment = time.time(), timezone.now()
    pending = BatchLine.objects.filter(batch=OuterRef("pk")).exclude(state=LineState.DONE)
    running = BatchLine.objects.filter(
        batch=OuterRef("pk"), state=LineState.CLAIMED, lease_until__gte=now
    )
    ready = [
        *((b, BatchStatus.COMPLETED) for b in Batch.objects.filter(
            status=BatchStatus.IN_PROGRESS).filter(~Exists(pending))),
        *((b, BatchStatus.EXPIRED) for b in Batch.objects.filter(
            status=BatchStatus.IN_PROGRESS, expires_at__lt=moment)),
        *((b, BatchStatus.CANCELLED) for b in Batch.objects.filter(
            status=BatchStatus.CANCELLING).filter(~Exists(running))),
    ]  # fmt: skip
    ended = []
    for batch, final in ready:
        if batch.pk not in ended and _take(batch, now):
            _end(batch, final)
            ended.append(batch.pk)
    return ended


def _take(batch: Batch, now: float) -> bool:
    """This process writes the batch's files, unless another one is (its lease holds)."""
    taken = Batch.objects.filter(pk=batch.pk, status=batch.status, finalize_lease__lt=now).update(
        finalize_lease=now + FINALIZE_LEASE
    )
    return bool(taken)


def _end(batch: Batch, final: BatchStatus) -> None:
    moment = timezone.now()
    if final == BatchStatus.COMPLETED:
        Batch.objects.filter(pk=batch.pk).update(
            status=BatchStatus.FINALIZING, finalizing_at=moment
        )
    output, errors, unfinished = _write_files(batch, final)
    fields: dict[str, Any] = {
        "status": final,
        f"{final.value}_at": timezone.now(),
        "output_file_id": output or "",
        "error_file_id": errors or "",
        "failed": F("failed") + unfinished,  # lines that never ran
    }
    Batch.objects.filter(pk=batch.pk).update(**fields)


def _write_files(batch: Batch, final: BatchStatus) -> tuple[str | None, str | None, int]:
    """The output file (answers of 200) and the error file (the rest); ids, None for a file
    that would be empty; and how many lines never ran."""
    output = _new_file(batch, "output")
    errors = _new_file(batch, "error")
    unfinished = 0
    with file_path(output.id).open("xb") as out, file_path(errors.id).open("xb") as err:
        lines = batch.lines.order_by("number").iterator(chunk_size=1000)
        for line in lines:
            if line.state != LineState.DONE:
                unfinished += 1
                code, message = UNFINISHED.get(final, UNFINISHED[BatchStatus.CANCELLED])
                _write(err, line, None, {"code": code, "message": message})
            elif line.status_code == 200:
                _write(out, line, _response(line), None)
            else:
                response = _response(line) if line.status_code is not None else None
                _write(err, line, response, line.error)
        output.bytes, errors.bytes = out.tell(), err.tell()
    return _keep(output), _keep(errors), unfinished


def _new_file(batch: Batch, kind: str) -> File:
    return File(
        filename=f"{batch.id}_{kind}.jsonl", purpose=Purpose.BATCH_OUTPUT,
        owner_id=batch.owner_id, api_key_id=batch.api_key_id,
    )  # fmt: skip


def _keep(row: File) -> str | None:
    if not row.bytes:
        file_path(row.id).unlink(missing_ok=True)
        return None
    row.save(force_insert=True)
    return row.id


def _response(line: BatchLine) -> dict[str, Any]:
    return {"status_code": line.status_code, "request_id": line.request_id, "body": line.response}


def _write(out: IO[bytes], line: BatchLine, response: Any, error: Any) -> None:
    item = {"id": f"batch_req_{line.pk}", "custom_id": line.custom_id, "response": response,
            "error": error}  # fmt: skip
    out.write(orjson.dumps(item) + b"\n")
