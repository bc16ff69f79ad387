"""One data-plane request as the request log records it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


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
