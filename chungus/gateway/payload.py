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


_INT_FIELDS = (
    "max_tokens",
    "max_completion_tokens",
    "n",
    "seed",
    "top_logprobs",
    "best_of",
)
_NUMBER_FIELDS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
ROLES = ("system", "user", "assistant", "tool", "function", "developer")
MAX_STOPS = 4
_TURN_TOKENS = 8  # a chat turn's template markers (start and end of turn, role)
# OpenAI's bounds for the fields CHUNGUS knows (openai-openapi.yaml); None: unbounded.
Bounds = dict[str, tuple[float | None, float | None]]  # field: (lowest, highest)
_SHARED_BOUNDS: Bounds = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
    "n": (1, 128),
    "top_logprobs": (0, 20),
}
_CHAT_BOUNDS: Bounds = {
    **_SHARED_BOUNDS,
    "max_tokens": (1, None),
    "max_completion_tokens": (1, None),
}
# A completion of 0 tokens with `echo` scores the prompt, so OpenAI allows it there.
_COMPLETION_BOUNDS: Bounds = {
    **_SHARED_BOUNDS,
    "max_tokens": (0, None),
    "best_of": (0, 20),
    "logprobs": (0, 5),
}


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
    _check_types(body, chat=chat)
    _check_bounds(body, _CHAT_BOUNDS if chat else _COMPLETION_BOUNDS)
    _check_stop(body.get("stop"))
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
        if message["role"] not in ROLES:
            supported = ", ".join(f"'{r}'" for r in ROLES[:-1]) + f", and '{ROLES[-1]}'"
            raise InvalidRequest(
                f"Invalid value: '{message['role'][:100]}'. Supported values are: {supported}.",
                param=f"messages[{index}].role",
                code="invalid_value",
            )


def _check_prompt(prompt: Any) -> None:
    if isinstance(prompt, str):
        return
    if isinstance(prompt, list) and prompt:
        return
    raise InvalidRequest("'prompt' is required and must be a string or an array.", param="prompt")


def _check_types(body: dict[str, Any], *, chat: bool) -> None:
    for name in (*_INT_FIELDS, *(() if chat else ("logprobs",))):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidRequest(f"'{name}' must be an integer.", param=name)
    for name in _NUMBER_FIELDS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidRequest(f"'{name}' must be a number.", param=name)
    if chat and body.get("logprobs") is not None and not isinstance(body["logprobs"], bool):
        raise InvalidRequest("'logprobs' must be a boolean.", param="logprobs")


def _check_bounds(body: dict[str, Any], bounds: Bounds) -> None:
    """Answer a value out of OpenAI's range as OpenAI does (the types are checked already)."""
    for name, (low, high) in bounds.items():
        value = body.get(name)
        if value is None:
            continue
        kind = "decimal" if name in _NUMBER_FIELDS else "integer"
        if low is not None and value < low:
            raise InvalidRequest(
                f"Invalid '{name}': {kind} below minimum value. "
                f"Expected a value >= {low}, but got {value} instead.",
                param=name,
                code=f"{kind}_below_min_value",
            )
        if high is not None and value > high:
            raise InvalidRequest(
                f"Invalid '{name}': {kind} above maximum value. "
                f"Expected a value <= {high}, but got {value} instead.",
                param=name,
                code=f"{kind}_above_max_value",
            )


def _check_stop(stop: Any) -> None:
    """`stop` is a string or up to four strings."""
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise InvalidRequest("'stop' must be a string or an array of strings.", param="stop")
    if len(stop) > MAX_STOPS:
        raise InvalidRequest(
            f"Invalid 'stop': array too long. Expected an array with maximum length "
            f"{MAX_STOPS}, but got an array with length {len(stop)} instead.",
            param="stop",
            code="array_above_max_length",
        )


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


def prompt_estimate(request: Completion) -> int:
    """About as many tokens as the prompt has, or more: one for every three bytes of its
    text (English averages four characters a token; other scripts take more bytes a
    character), plus each chat turn's template markers; inline images and audio are not
    counted. A key's token budget is reserved with it before the engine counts, and the
    difference is settled after."""
    body = request.body
    if "messages" in body:
        messages = body["messages"]
        turns = len(messages) + 1  # and the answer's own header
        return (_bytes(messages) + _bytes(body.get("tools"))) // 3 + _TURN_TOKENS * turns
    return _bytes(body.get("prompt")) // 3 + 1


def _bytes(value: Any) -> int:
    if isinstance(value, str):
        return 0 if value.startswith("data:") else len(value.encode(errors="replace"))
    if isinstance(value, int):
        return 3  # a token id
    if isinstance(value, list):
        return sum(_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_bytes(v) for v in value.values())
    return 0
