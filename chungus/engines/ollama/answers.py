"""Ollama's answers in OpenAI's shape: messages, tool calls, finish reasons, usage (pure)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

import orjson

CHAT = "chat/completions"
_FINISH = {"stop": "stop", "length": "length"}


def openai_message(message: dict[str, Any]) -> dict[str, Any]:
    calls = message.get("tool_calls") or []
    # OpenAI sends null content beside tool calls; Ollama sends ""
    content = message.get("content") or (None if calls else "")
    out: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if message.get("thinking"):
        out["reasoning_content"] = message["thinking"]
    if calls:
        out["tool_calls"] = [openai_tool_call(call) for call in calls]
    return out


def openai_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
    return {
        "id": call.get("id") or f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": function.get("name", ""), "arguments": arguments},
    }


def finish_reason(done_reason: Any, called_tools: bool) -> str:
    if called_tools:
        return "tool_calls"
    return _FINISH.get(str(done_reason), "stop")  # also "load", "unload" and older Ollamas' none


def usage_of(data: dict[str, Any]) -> dict[str, int]:
    prompt = int(data.get("prompt_eval_count") or 0)
    completion = int(data.get("eval_count") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def created_of(created_at: Any) -> int:
    """Unix seconds of Ollama's `created_at` (RFC 3339, nanoseconds), or now."""
    if isinstance(created_at, str):
        try:
            return int(datetime.fromisoformat(created_at).timestamp())
        except ValueError:
            pass
    return int(time.time())


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"
