"""One data-plane request as the request log records it, and the bounds every field is held to.

A client chooses much of what a row holds (the model it asked for, its prompt), so each text
field has a length bound that fits its column in chungus.telemetry.models.RequestLog; a value
over its bound is cut and ends with TRUNCATED. A model the gateway does not serve is logged as
UNKNOWN_MODEL, never as the client's text.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter

UNKNOWN_MODEL = "(unknown)"
TRUNCATED = "…"
# Characters per field; the columns: key_name 100, model 200, backend 500, endpoint 50,
# error_type 100; prompt is a text column, bounded so one request cannot fill the disk.
BOUNDS = {
    "endpoint": 50,
    "key_name": 100,
    "model": 200,
    "backend": 500,
    "error_type": 100,
    "prompt": 16_384,
}


@dataclass(slots=True)
class LogEntry:
    endpoint: str
    status: int
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    key_id: int | None = None
    key_name: str = ""
    model: str = ""
    backend: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    stream: bool = False
    error_type: str = ""
    attempts: int = 1
    prompt: str = ""


def bounded_text(value: str, limit: int) -> str:
    """`value` cut to at most `limit` characters, marked with TRUNCATED when it was cut."""
    if len(value) <= limit:
        return value
    return value[: limit - len(TRUNCATED)] + TRUNCATED


texts = attrgetter(*BOUNDS)  # an entry's text fields, in BOUNDS' order
_SHORTEST = min(BOUNDS.values())


def bounded(entry: LogEntry) -> LogEntry:
    """The entry with every text field within BOUNDS (the same entry when it already was)."""
    lengths = tuple(map(len, texts(entry)))
    if max(lengths) <= _SHORTEST or all(map(operator.le, lengths, BOUNDS.values())):
        return entry  # the usual case, checked without a Python loop: this runs per request
    clean = copy.copy(entry)
    for name, limit in BOUNDS.items():
        setattr(clean, name, bounded_text(getattr(entry, name), limit))
    return clean
