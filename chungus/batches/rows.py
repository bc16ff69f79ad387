"""A tenant's rows, one or a page at a time (files and batches alike)."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models
from django.db.models import Q

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches.tenancy import tenant_filter
from chungus.lib.openai_errors import NotFound

M = TypeVar("M", bound=models.Model)


def owned(rows: models.QuerySet[M], key: KeyInfo, pk: str, noun: str) -> M:
    """The tenant's row, or 404 (also for another tenant's: its existence is not told)."""
    row = rows.filter(pk=pk, **tenant_filter(key)).first()
    if row is None:
        raise NotFound(f"No such {noun}: '{pk[:80]}'.", param=f"{noun}_id")
    return row


def page_rows(
    rows: models.QuerySet[M], limit: int, ascending: bool, after: str | None, noun: str
) -> tuple[list[M], bool]:
    """Up to `limit` rows by creation (then id), after the row `after`; and whether more."""
    rows = rows.order_by(*(("created_at", "id") if ascending else ("-created_at", "-id")))
    if after:
        cursor: Any = rows.filter(pk=after).first()
        if cursor is None:
            raise NotFound(f"No such {noun}: '{after[:80]}'.", param="after")
        at, pk = cursor.created_at, cursor.pk
        if ascending:
            rows = rows.filter(Q(created_at__gt=at) | Q(created_at=at, id__gt=pk))
        else:
            rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk))
    found = list(rows[: limit + 1])
    return found[:limit], len(found) > limit
