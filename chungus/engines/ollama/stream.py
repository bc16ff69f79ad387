"""Ollama's NDJSON stream in, OpenAI's server-sent events out, ending with usage and [DONE].

Ollama reports its token counts on the last line, so the usage chunk is always there.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from chungus.engines.adapter import StreamTranslator
from chungus.engines.ollama.answers import (
    CHAT,
    finish_reason,
    new_id,
    openai_tool_call,
    usage_of,
)
from chungus.lib.openai_errors import BadGateway
from chungus.lib.sse import error_event

_DONE = b"data: [DONE]\n\n"


class OllamaStream(StreamTranslator):
    """Ollama's NDJSON lines in; OpenAI's chunk events (chat or text completion) out."""

    def __init__(self, endpoint: str, model: str) -> None:
        self.chat = endpoint == CHAT
        self.model = model
        self.id = new_id("chatcmpl" if self.chat else "cmpl")
        self.created = int(time.time())
        self.buffer = b""
        self.started = False
        self.finished = False
        self.tool_calls = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        *lines, self.buffer = (self.buffer + chunk).split(b"\n")
        return [event for line in lines for event in self._line(line)]

    def end(self) -> list[bytes]:
        rest, self.buffer = self.buffer, b""
        return self._line(rest)

    def _line(self, line: bytes) -> list[bytes]:
        if self.finished or not line.strip():
            return []
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            return []  # not a line of Ollama's; nothing a client could use
        if not isinstance(data, dict):
            return []
        if "error" in data:
            self.finished = True
            message = f"The model backend failed: {data['error']}"
            return [error_event(BadGateway(message).envelope())]
        events = [self._event(delta) for delta in self._deltas(data)]
        if data.get("done"):
            self.finished = True
            finish = finish_reason(data.get("done_reason"), self.tool_calls > 0)
            events.append(self._event({} if self.chat else "", finish))
            events.append(self._usage(usage_of(data)))
            events.append(_DONE)
        return events

    def _deltas(self, data: dict[str, Any]) -> list[dict[str, Any] | str]:
        """The content a line carries, as chat deltas or completion texts."""
        if not self.chat:
            text = data.get("response")
            return [text] if isinstance(text, str) and text else []
        deltas: list[dict[str, Any] | str] = []
        if not self.started:
            self.started = True
            deltas.append({"role": "assistant", "content": ""})
        message = data.get("message") or {}
        if message.get("thinking"):
            deltas.append({"reasoning_content": message["thinking"]})
        if message.get("content"):
            deltas.append({"content": message["content"]})
        calls = message.get("tool_calls") or []
        if calls:
            first, self.tool_calls = self.tool_calls, self.tool_calls + len(calls)
            chunks = [
                {"index": first + i, **openai_tool_call(call)} for i, call in enumerate(calls)
            ]
            deltas.append({"tool_calls": chunks})
        return deltas

    def _event(self, delta: dict[str, Any] | str, finish: str | None = None) -> bytes:
        if isinstance(delta, dict):
            choice: dict[str, Any] = {"index": 0, "delta": delta}
        else:
            choice = {"text": delta, "index": 0}
        choice.update(logprobs=None, finish_reason=finish)
        return self._sse({"choices": [choice]})

    def _usage(self, usage: dict[str, int]) -> bytes:
        return self._sse({"choices": [], "usage": usage})

    def _sse(self, fields: dict[str, Any]) -> bytes:
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        head = {"id": self.id, "object": obj, "created": self.created, "model": self.model}
        return b"data: " + orjson.dumps({**head, **fields}) + b"\n\n"
