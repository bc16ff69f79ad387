"""Any server with OpenAI's API, and koboldcpp: routed to, never launched by CHUNGUS."""

from __future__ import annotations

from chungus.engines.base import Engine
from chungus.engines.openai.adapter import OpenAIAdapter


class OpenAICompatible(Engine):
    """A `/v1` server CHUNGUS only routes to (SGLang, TGI, LM Studio, a hosted API, ...)."""

    name = "openai"
    label = "OpenAI-compatible"
    rank = 0
    adapter_class = OpenAIAdapter


class KoboldCpp(OpenAICompatible):
    """koboldcpp's OpenAI-compatible API, typically on someone's laptop."""

    name = "koboldcpp"
    label = "koboldcpp"
    rank = 40


ENGINES = (OpenAICompatible(), KoboldCpp())
