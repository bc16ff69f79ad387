"""Turning an engine's error answer into OpenAI's error envelope (pure)."""

from __future__ import annotations

from typing import Any

import orjson

from chungus.lib.openai_errors import (
    INVALID_REQUEST,
    BadGateway,
    InvalidRequest,
    error_envelope,
)

_CONTEXT_TYPES = {"exceed_context_size_error", "context_length_exceeded"}


def normalize_engine_error(status: int, body: bytes) -> tuple[int, dict[str, Any]]:
    """Return the status and envelope to send for an engine's error response.

    Client mistakes the engine caught (4xx) keep their status; engine faults
    (5xx) become 502 so clients can tell a bad request from a bad backend.
    """
    detail = _error_detail(body)
    message = str(detail.get("message") or f"The model backend answered HTTP {status}.")
    type_ = str(detail.get("type") or "")
    code = detail.get("code")
    if type_ in _CONTEXT_TYPES or code == "context_length_exceeded":
        overflow = InvalidRequest(message, param="messages", code="context_length_exceeded")
        return overflow.status, overflow.envelope()
    if 400 <= status < 500:
        return status, error_envelope(
            message,
            INVALID_REQUEST if not type_ or type_.isdigit() else type_,
            _str_or_none(detail.get("param")),
            _str_or_none(code) if not isinstance(code, int) else None,
        )
    fault = BadGateway(f"The model backend failed: {message}")
    return fault.status, fault.envelope()


def _error_detail(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode(errors="replace").strip()[:500]
        return {"message": text} if text else {}
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            return error
        if isinstance(error, str):
            return {"message": error}
        if isinstance(data.get("detail"), str):
            return {"message": data["detail"]}
    return {}


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
