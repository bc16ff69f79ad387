"""Server-sent events: split an upstream byte stream into events (pure)."""

from __future__ import annotations

from typing import Any

import orjson


class EventSplitter:
    """Feeds raw bytes, yields complete events (each ending in a blank line)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._buffer + chunk
        if b"\r\n" in data:
            data = data.replace(b"\r\n", b"\n")
        *events, self._buffer = data.split(b"\n\n")
        return [event + b"\n\n" for event in events if event.strip()]

    def passthrough(self, chunk: bytes) -> bool:
        """True when `chunk` is whole events with no usage and no end, so it needs no parsing."""
        return (
            not self._buffer
            and chunk.endswith(b"\n\n")
            and b'"usage"' not in chunk
            and b"[DONE]" not in chunk
        )

    def rest(self) -> bytes:
        """Return what is left when the stream ends without a final blank line."""
        rest, self._buffer = self._buffer, b""
        return rest + b"\n\n" if rest.strip() else b""


def event_data(event: bytes) -> bytes:
    """Return the joined `data:` lines of one event."""
    lines = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines)


def event_json(event: bytes) -> dict[str, Any] | None:
    """Return an event's data as a JSON object, or None for [DONE] and non-JSON data."""
    data = event_data(event)
    if not data or data == b"[DONE]":
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def is_usage_only(chunk: dict[str, Any]) -> bool:
    """True for the final chunk that carries usage and no choices."""
    return not chunk.get("choices") and isinstance(chunk.get("usage"), dict)


def has_content(chunk: dict[str, Any]) -> bool:
    """True when a chunk carries generated text (the first token, for TTFT)."""
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("reasoning_content") or choice.get("text"):
            return True
        if delta.get("tool_calls"):
            return True
    return False


def error_event(envelope: dict[str, Any]) -> bytes:
    """Return an SSE event carrying an OpenAI error object."""
    return b"data: " + orjson.dumps(envelope) + b"\n\n"
