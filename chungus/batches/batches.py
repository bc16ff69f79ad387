"""Batches of a tenant: created from an uploaded file (checked whole first), listed, read
and cancelled (blocking: call off the event loop). Running them is chungus.batches.runner's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches import files
from chungus.batches.lines import MAX_ERRORS, check_lines
from chungus.batches.models import Batch, BatchLine, BatchStatus, Purpose
from chungus.batches.objects import batch_object, page
from chungus.batches.rows import owned, page_rows
from chungus.batches.storage import file_path
from chungus.batches.tenancy import tenant_fields, tenant_filter
from chungus.lib.dbthreads import fresh_connection
from chungus.lib.openai_errors import Conflict, InvalidRequest

ENDPOINTS = ("/v1/chat/completions", "/v1/completions")
WINDOWS = {"24h": timedelta(hours=24)}
CANCELLABLE = (BatchStatus.VALIDATING, BatchStatus.IN_PROGRESS)
ModelCheck = Callable[[str], str | None]  # why a model may not be used, None when it may


def check_request(body: dict[str, Any]) -> tuple[str, str, str, dict[str, str] | None]:
    """The create request's fields, or a 400 naming the one that is wrong (pure)."""
    input_file_id, endpoint = body.get("input_file_id"), body.get("endpoint")
    window, metadata = body.get("completion_window", "24h"), body.get("metadata")
    if not isinstance(input_file_id, str) or not input_file_id:
        raise InvalidRequest("input_file_id is required.", param="input_file_id")
    if endpoint not in ENDPOINTS:
        raise InvalidRequest(f"endpoint must be one of: {', '.join(ENDPOINTS)}.", param="endpoint")
    if window not in WINDOWS:
        raise InvalidRequest("completion_window must be '24h'.", param="completion_window")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and len(metadata) <= 16
        and all(isinstance(k, str) and len(k) <= 64 for k in metadata)
        and all(isinstance(v, str) and len(v) <= 512 for v in metadata.values())
    ):
        raise InvalidRequest(
            "metadata is at most 16 string keys (64 characters) with string values (512).",
            param="metadata",
        )
    return input_file_id, endpoint, window, metadata


@fresh_connection
def create(
    key: KeyInfo, body: dict[str, Any], model_ok: ModelCheck, max_lines: int
) -> dict[str, Any]:
    """A batch of the key's tenant from one of its files: in progress with its lines stored,
    or failed with the errors of its file's lines."""
    input_file_id, endpoint, window, metadata = check_request(body)
    source = files.one(key, input_file_id)
    if source.purpose != Purpose.BATCH:
        raise InvalidRequest("The input file's purpose must be 'batch'.", param="input_file_id")
    with file_path(source.id).open("rb") as raw:
        lines, errors = check_lines(raw, endpoint, model_ok, max_lines)
    now = timezone.now()
    batch = Batch(
        endpoint=endpoint, input_file_id=source.id, completion_window=window, metadata=metadata,
        expires_at=now + WINDOWS[window], created_at=now, **tenant_fields(key),
    )  # fmt: skip
    if errors:
        batch.status, batch.failed_at = BatchStatus.FAILED, now
        batch.errors = [e.object() for e in errors[:MAX_ERRORS]]
        batch.save(force_insert=True)
        return batch_object(batch)
    batch.status, batch.in_progress_at, batch.total = BatchStatus.IN_PROGRESS, now, len(lines)
    batch.model = str(lines[0].body["model"])
    with transaction.atomic():
        batch.save(force_insert=True)
        for chunk in _chunks(lines, 1000):
            BatchLine.objects.bulk_create(
                BatchLine(batch=batch, number=n.number, custom_id=n.custom_id, body=n.body)
                for n in chunk
            )
    return batch_object(batch)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _one(key: KeyInfo, batch_id: str) -> Batch:
    return owned(Batch.objects.all(), key, batch_id, "batch")


@fresh_connection
def retrieve(key: KeyInfo, batch_id: str) -> dict[str, Any]:
    return batch_object(_one(key, batch_id))


@fresh_connection
def listing(key: KeyInfo, limit: int, after: str | None) -> dict[str, Any]:
    """Newest first, as OpenAI lists batches."""
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit must be between 1 and 100.", param="limit")
    rows = Batch.objects.filter(**tenant_filter(key))
    found, more = page_rows(rows, limit, False, after, "batch")
    return page([batch_object(r) for r in found], has_more=more)


@fresh_connection
def cancel(key: KeyInfo, batch_id: str) -> dict[str, Any]:
    """Stop claiming its lines; it ends cancelled once the lines running now are done."""
    with transaction.atomic():
        row = _one(key, batch_id)
        if row.status == BatchStatus.CANCELLING:
            return batch_object(row)
        if row.status not in CANCELLABLE:
            raise Conflict(
                f"Cannot cancel a batch that is {row.status}.", code="batch_not_cancellable"
            )
        moved = Batch.objects.filter(pk=row.pk, status__in=CANCELLABLE).update(
            status=BatchStatus.CANCELLING, cancelling_at=timezone.now()
        )
        if not moved:  # it finished meanwhile
            raise Conflict("The batch finished meanwhile.", code="batch_not_cancellable")
    return retrieve(key, batch_id)
