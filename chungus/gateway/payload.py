"""Parsing and checking client request bodies (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from chungus.lib.openai_errors import InvalidRequest


@dataclass(slots=True)
class Completion:
    """A parsed /chat/completions or /completions request."""

    body: dict[str, Any]
    model: str
    stream: bool
    wants_usage: bool
    raw: bytes = b""


_INT_FIELDS = ("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs")
_NUMBER_FIELDS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")


def parse_completion(raw: bytes, *, chat: bool) -> Completion:
    """Parse and check a request body; unknown fields are kept for the engine."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a non-empty string.", param="model")
    if chat:
        _check_messages(body.get("messages"))
    else:
        _check_prompt(body.get("prompt"))
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean.", param="stream")
    _check_types(body)
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object.", param="stream_options")
    wants_usage = bool(options and options.get("include_usage"))
    return Completion(body=body, model=model, stream=stream, wants_usage=wants_usage, raw=raw)


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest(
            "'messages' is required and must be a non-empty array.", param="messages"
        )
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(
                f"'messages[{index}]' must be an object with a string 'role'.",
                param=f"messages[{index}]",
            )


def _check_prompt(prompt: Any) -> None:
    if isinstance(prompt, str):
        return
    if isinstance(prompt, list) and prompt:
        return
    raise InvalidRequest("'prompt' is required and must be a string or an array.", param="prompt")


def _check_types(body: dict[str, Any]) -> None:
    for name in _INT_FIELDS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidRequest(f"'{name}' must be an integer.", param=name)
        if isinstance(value, int) and value < 0:
            raise InvalidRequest(f"'{name}' must not be negative.", param=name)
    for name in _NUMBER_FIELDS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidRequest(f"'{name}' must be a number.", param=name)


def prompt_text(request: Completion) -> str:
    """Return the prompt as text, for the request log when prompt logging is on."""
    if "messages" in request.body:
        parts = []
        for message in request.body["messages"]:
            content = message.get("content")
            parts.append(f"{message.get('role')}: {content}")
        return "\n".join(parts)
    prompt = request.body.get("prompt")
    return prompt if isinstance(prompt, str) else repr(prompt)
