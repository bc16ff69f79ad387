"""The routing table every CHUNGUS process follows: models and their backends, as plain frozen
values. The fleet reads it from the database (chungus.fleet.backends), the gateway routes by it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BackendInfo:
    id: int
    url: str
    engine: str = "openai"
    upstream_model: str = ""
    max_concurrency: int = 64
    chat: bool = True  # False: the engine's model has no chat format (completions only)
    api_key: str = field(default="", repr=False)  # sent as a bearer token; never shown

    @property
    def auth_headers(self) -> dict[str, str]:
        """What every call to this backend carries: its bearer key, where it has one."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def root(self) -> str:
        """The server's root URL: the base URL without its `/v1`."""
        return self.url.removesuffix("/v1")


@dataclass(frozen=True, slots=True)
class RequestCaps:
    """Per-request bounds of one model (fleet's Model fields); 0: no cap. The defaults bound
    nothing: the database's defaults are the ones that hold for a model an operator adds."""

    max_output_tokens: int = 0  # also sent as max_tokens when a request names none
    max_n: int = 0
    max_prompts: int = 0
    engine_options: bool = True  # pass per-request engine settings that affect other users
    context: int = 0  # the engine's context length where CHUNGUS runs it (0: unknown)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    backends: tuple[BackendInfo, ...]
    created: int = 0
    routing: str = "least-outstanding"
    deployed: bool = False  # CHUNGUS runs it (a Deployment): a request may start it
    caps: RequestCaps = RequestCaps()
