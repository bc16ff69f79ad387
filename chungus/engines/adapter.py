"""The adapter contract: how the gateway speaks to one kind of engine.

Engines that speak OpenAI's API (vLLM, llama.cpp, koboldcpp, any `/v1`
server) share `chungus.engines.openai.adapter.OpenAIAdapter`; an engine with
its own API (Ollama) translates requests, answers and streams both ways, so
clients always see exact OpenAI responses. Each Engine (base.py) has one.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EngineRequest:
    """What to send to the engine: a path below the backend's root URL, and a body."""

    path: str
    body: bytes


class StreamTranslator(abc.ABC):
    """Turns an engine's streamed bytes into OpenAI server-sent events."""

    @abc.abstractmethod
    def feed(self, chunk: bytes) -> list[bytes]:
        """Return the complete SSE events (`data: …\\n\\n`) that `chunk` finishes."""

    @abc.abstractmethod
    def end(self) -> list[bytes]:
        """Return the events still owed when the engine's stream ends."""

    def passthrough(self, chunk: bytes) -> bool:
        """True when `chunk` may be forwarded as it is, without `feed` (a fast path)."""
        return False


class EngineAdapter(abc.ABC):
    """How to speak to one kind of engine. `root` is the backend URL without a trailing `/v1`."""

    health_path: str = "/health"
    # Request paths are below the backend URL as configured (".../v1") unless the
    # engine's native API lives at the server root (Ollama's /api/chat).
    paths_from_root: bool = False

    @abc.abstractmethod
    def request(
        self, endpoint: str, body: dict[str, Any], raw: bytes, upstream_model: str, stream: bool
    ) -> EngineRequest:
        """Build the engine request for an OpenAI `endpoint` ("chat/completions" or
        "completions"). `body` is the client's parsed JSON (do not mutate it), `raw`
        its bytes, `upstream_model` the engine's id for the model ("" = keep the
        client's), `stream` whether the client asked to stream. Streams must make the
        engine report usage at the end (the gateway strips it again if unasked)."""

    @abc.abstractmethod
    def response(self, endpoint: str, data: dict[str, Any], model: str) -> dict[str, Any]:
        """Turn the engine's non-streamed JSON answer into OpenAI's (may edit `data`);
        `model` is the client's model name, for engines that answer with their own."""

    @abc.abstractmethod
    def stream(self, endpoint: str, model: str) -> StreamTranslator:
        """Return a translator for one streamed answer; `model` is the client's model name."""

    def error(self, status: int, data: bytes) -> tuple[int, bytes]:
        """Let an engine reshape its error body before the gateway normalizes it."""
        return status, data

    def without_shared_settings(self, body: dict[str, Any]) -> dict[str, Any]:
        """`body` without per-request settings that change the engine for its other users
        (how long a model stays loaded, its context size, its GPUs); the gateway asks
        unless the model's operator allows them. Returns `body` itself when none is there."""
        return body
