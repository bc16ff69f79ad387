"""Filling the fields OpenAI always sends and some engines leave out (pure).

llama.cpp, for one, omits `logprobs` on choices and `refusal` on messages;
OpenAI's schemas require both (as null), and strict clients check them.
Engine extras such as llama.cpp's `timings` are kept: they are allowed and useful.
"""

from __future__ import annotations

from typing import Any


def complete_response(data: dict[str, Any]) -> bool:
    """Add OpenAI's always-present fields to an answer in place; True if any was missing."""
    changed = False
    for choice in data.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        if "logprobs" not in choice:
            choice["logprobs"] = None
            changed = True
        message = choice.get("message")
        if isinstance(message, dict) and "refusal" not in message:
            message["refusal"] = None
            changed = True
    return changed
