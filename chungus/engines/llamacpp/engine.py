"""llama.cpp (llama-server) as an engine: launched from a GGUF, spoken to in OpenAI's API."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from chungus.engines.base import (
    DeploymentPlan,
    Engine,
    LaunchSpec,
    TurnFormat,
    replica_secret,
)
from chungus.engines.gguf import gguf_memory_mb, model_path
from chungus.engines.llamacpp.adapter import LlamaCppAdapter
from chungus.engines.llamacpp.load import json_list, llamacpp_load
from chungus.engines.llamacpp.server import (
    LlamaServerOptions,
    gguf_chat_format,
    llama_server_binary,
    llama_server_command,
)
from chungus.engines.load import EngineLoad

API_KEY_ENV = "LLAMA_API_KEY"  # llama-server's environment name for --api-key


class LlamaCpp(Engine):
    name = "llamacpp"
    label = "llama.cpp"
    rank = 10
    launchable = True
    load_paths = ("/metrics", "/slots")
    adapter_class = LlamaCppAdapter

    def launch_spec(
        self, plan: DeploymentPlan, home: Path, name: str, port: int, gpus: tuple[int, ...]
    ) -> LaunchSpec:
        options = LlamaServerOptions(
            alias=plan.name,
            threads=plan.threads,
            context=plan.context_length,
            host="0.0.0.0" if plan.remote else "127.0.0.1",  # CHUNGUS is elsewhere
        )
        binary = llama_server_binary()
        command = llama_server_command(binary, model_path(plan.source, home), port, options)
        if not plan.remote:
            return LaunchSpec(name, command, port, self.health_path, gpus=gpus)
        # On the network: llama-server wants this key on every request but /health and
        # /v1/models; it reads it from its environment, which `ps` does not show.
        key = replica_secret()
        env = {API_KEY_ENV: key}
        return LaunchSpec(name, command, port, self.health_path, env, gpus, api_key=key)

    def estimate_memory_mb(self, source: str, context_length: int, home: Path) -> tuple[int, str]:
        return gguf_memory_mb(source, context_length, home)

    def turn_format(self, source: str, home: Path) -> TurnFormat | None:
        """The GGUF's own template, llama.cpp's built-in one for its architecture, or none
        (see chat_format.py); None while the file cannot be read."""
        try:
            chosen = gguf_chat_format(model_path(source, home))
        except (OSError, ValueError):
            return None
        return TurnFormat(chosen.template, chosen.reason)

    def parse_load(self, reports: Mapping[str, str | None]) -> EngineLoad:
        return llamacpp_load(reports.get("/metrics"), json_list(reports.get("/slots")))


ENGINES = (LlamaCpp(),)
