"""Speaking to llama-server: OpenAI's API, its own health path, and stop strings for chat."""

from __future__ import annotations

from chungus.engines.llamacpp.chat_format import CONTROL_MARKERS
from chungus.engines.openai.adapter import OpenAIAdapter


class LlamaCppAdapter(OpenAIAdapter):
    health_path = "/health"
    # A model prompted in a turn format it was not trained on writes that format's
    # markers as text; they never belong in an answer (see chat_format.py).
    chat_stop = CONTROL_MARKERS
