"""Rows as OpenAI's API shows them (pure: no queries)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class FileLike(Protocol):
    id: str
    bytes: int
    filename: str
    purpose: str

    @property
    def created_at(self) -> Any: ...


def file_object(row: FileLike) -> dict[str, Any]:
    """OpenAI's File object (OpenAIFile in the spec)."""
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": int(row.created_at.timestamp()),
        "filename": row.filename,
        "purpose": row.purpose,
        "status": "processed",
    }


def page(objects: Sequence[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """A list answer with OpenAI's cursor fields (`after` takes last_id)."""
    return {
        "object": "list",
        "data": list(objects),
        "first_id": objects[0]["id"] if objects else None,
        "last_id": objects[-1]["id"] if objects else None,
        "has_more": has_more,
    }


class BatchLike(Protocol):
    id: str
    endpoint: str
    model: str
    input_file_id: str
    completion_window: str
    metadata: Any
    status: str
    errors: list[dict[str, Any]]
    output_file_id: str
    error_file_id: str
    total: int
    completed: int
    failed: int
    prompt_tokens: int
    completion_tokens: int


MOMENTS = (
    "created_at", "expires_at", "in_progress_at", "finalizing_at", "completed_at", "failed_at",
    "expired_at", "cancelling_at", "cancelled_at",
)  # fmt: skip


def batch_object(row: BatchLike) -> dict[str, Any]:
    """OpenAI's Batch object; moments and files not reached yet are left out."""
    out: dict[str, Any] = {
        "id": row.id,
        "object": "batch",
        "endpoint": row.endpoint,
        "input_file_id": row.input_file_id,
        "completion_window": row.completion_window,
        "status": row.status,
        "request_counts": {"total": row.total, "completed": row.completed, "failed": row.failed},
        "metadata": row.metadata,
        "usage": {
            "input_tokens": row.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": row.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": row.prompt_tokens + row.completion_tokens,
        },
    }
    if row.model:
        out["model"] = row.model
    if row.errors:
        out["errors"] = {"object": "list", "data": row.errors}
    for name in ("output_file_id", "error_file_id"):
        if getattr(row, name):
            out[name] = getattr(row, name)
    for name in MOMENTS:
        moment = getattr(row, name)
        if moment is not None:
            out[name] = int(moment.timestamp())
    return out
