"""The routing table every CHUNGUS process follows: models and their backends, as plain frozen
values. The fleet reads it from the database (chungus.fleet.backends), the gateway routes by it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackendInfo:
    id: int
    url: str
    engine: str = "openai"
    upstream_model: str = ""
    max_concurrency: int = 64
    chat: bool = True  # False: the engine's model has no chat format (completions only)

    @property
    def root(self) -> str:
        """The server's root URL: the base URL without its `/v1`."""
        return self.url.removesuffix("/v1")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    backends: tuple[BackendInfo, ...]
    created: int = 0
    routing: str = "least-outstanding"
    deployed: bool = False  # CHUNGUS runs it (a Deployment): a request may start it
