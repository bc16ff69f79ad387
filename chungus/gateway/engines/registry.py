"""Engine name → adapter. Adding an engine: write its module, add a line here."""

from __future__ import annotations

from chungus.gateway.engines.base import EngineAdapter
from chungus.gateway.engines.ollama import OllamaAdapter
from chungus.gateway.engines.openai import (
    KoboldCppAdapter,
    LlamaCppAdapter,
    OpenAIAdapter,
    VllmAdapter,
)


def adapters() -> dict[str, EngineAdapter]:
    """Return one adapter per engine name (adapters hold no state)."""
    found: list[EngineAdapter] = [
        OpenAIAdapter(),
        LlamaCppAdapter(),
        VllmAdapter(),
        KoboldCppAdapter(),
        OllamaAdapter(),
    ]
    return {adapter.name: adapter for adapter in found}
