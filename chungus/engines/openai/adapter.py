"""Speaking to engines with OpenAI's own API (vLLM, llama.cpp, koboldcpp, any `/v1` server)."""

from __future__ import annotations

from typing import Any

import orjson

from chungus.engines.adapter import EngineAdapter, EngineRequest, StreamTranslator
from chungus.engines.openai.compat import complete_response
from chungus.lib.sse import EventSplitter


class SseStream(StreamTranslator):
    """OpenAI's own stream format: split into events, nothing to translate."""

    def __init__(self) -> None:
        self.splitter = EventSplitter()

    def feed(self, chunk: bytes) -> list[bytes]:
        return self.splitter.feed(chunk)

    def end(self) -> list[bytes]:
        rest = self.splitter.rest()
        return [rest] if rest else []

    def passthrough(self, chunk: bytes) -> bool:
        return self.splitter.passthrough(chunk)


class OpenAIAdapter(EngineAdapter):
    """Sends the client's request on (its own bytes when nothing changes), completes answers."""

    health_path = "/v1/models"  # every OpenAI-compatible server has it
    chat_stop: tuple[str, ...] = ()  # stop strings added to every chat request

    def request(
        self, endpoint: str, body: dict[str, Any], raw: bytes, upstream_model: str, stream: bool
    ) -> EngineRequest:
        options = body.get("stream_options")
        wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        same_model = not upstream_model or upstream_model == body.get("model")
        stops = self.chat_stop if endpoint == "chat/completions" else ()
        if raw and same_model and (not stream or wants_usage) and not stops:
            return EngineRequest(f"/{endpoint}", raw)  # nothing to change: the client's bytes
        changed = dict(body)
        if upstream_model:
            changed["model"] = upstream_model
        if stream and not wants_usage:
            changed["stream_options"] = {**(options or {}), "include_usage": True}
        if stops:
            changed["stop"] = with_stops(body.get("stop"), stops)
        return EngineRequest(f"/{endpoint}", orjson.dumps(changed))

    def response(self, endpoint: str, data: dict[str, Any], model: str) -> dict[str, Any]:
        complete_response(data)
        return data

    def stream(self, endpoint: str, model: str) -> StreamTranslator:
        return SseStream()


def with_stops(given: Any, extra: tuple[str, ...]) -> Any:
    """The client's `stop` (absent, a string or a list) with `extra` added; other types
    are left as they are for the engine to refuse."""
    if given is None:
        return list(extra)
    if isinstance(given, str):
        return [given, *extra]
    if isinstance(given, list):
        return [*given, *(s for s in extra if s not in given)]
    return given
