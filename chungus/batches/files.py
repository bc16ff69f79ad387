"""Files of a tenant: stored, listed, read and deleted (blocking: call off the event loop)."""

from __future__ import annotations

import shutil
from typing import IO, Any

from django.db import transaction

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches.models import File
from chungus.batches.objects import file_object, page
from chungus.batches.rows import owned, page_rows
from chungus.batches.storage import file_path
from chungus.batches.tenancy import tenant_fields, tenant_filter
from chungus.lib.dbthreads import fresh_connection
from chungus.lib.openai_errors import InvalidRequest

MAX_LIST = 10_000


@fresh_connection
def store(key: KeyInfo, filename: str, purpose: str, source: IO[bytes]) -> dict[str, Any]:
    """Keep `source`'s bytes as a new file of the key's tenant."""
    row = File(filename=filename, purpose=purpose, **tenant_fields(key))
    path = file_path(row.id)
    with path.open("xb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
        row.bytes = out.tell()
    try:
        row.save(force_insert=True)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return file_object(row)


@fresh_connection
def listing(
    key: KeyInfo, purpose: str | None, limit: int, order: str, after: str | None
) -> dict[str, Any]:
    if not 1 <= limit <= MAX_LIST:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIST}.", param="limit")
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be 'asc' or 'desc'.", param="order")
    rows = File.objects.filter(**tenant_filter(key))
    if purpose:
        rows = rows.filter(purpose=purpose)
    found, more = page_rows(rows, limit, order == "asc", after, "file")
    return page([file_object(r) for r in found], has_more=more)


@fresh_connection
def one(key: KeyInfo, file_id: str) -> File:
    return owned(File.objects.all(), key, file_id, "file")


@fresh_connection
def delete(key: KeyInfo, file_id: str) -> dict[str, Any]:
    with transaction.atomic():
        row = one(key, file_id)
        found = row.id  # delete() clears the instance's pk
        row.delete()
    file_path(found).unlink(missing_ok=True)
    return {"id": found, "object": "file", "deleted": True}
