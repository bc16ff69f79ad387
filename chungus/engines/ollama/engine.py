"""Ollama as an engine: `ollama serve` behind a wrapper that pulls the model, spoken to natively."""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings

from chungus.engines.base import DeploymentPlan, Engine, LaunchSpec, replica_secret
from chungus.engines.gguf import gguf_memory_mb, model_path
from chungus.engines.ollama import launch
from chungus.engines.ollama.adapter import OllamaAdapter

PARALLEL = 2  # requests one Ollama replica serves at once, as llama.cpp's slots


class Ollama(Engine):
    name = "ollama"
    label = "Ollama"
    rank = 30
    launchable = True
    fetches_model = True  # it pulls a library model first
    adapter_class = OllamaAdapter

    def plan_problem(self, plan: DeploymentPlan) -> str:
        return launch.name_problem(plan.name)  # Ollama serves it by this name

    def launch_spec(
        self, plan: DeploymentPlan, home: Path, name: str, port: int, gpus: tuple[int, ...]
    ) -> LaunchSpec:
        """`ollama serve` behind the wrapper that pulls or creates the model and loads it."""
        problem = self.plan_problem(plan)
        if problem:
            raise ValueError(problem)
        source = launch.classify_source(plan.source)
        if source.kind == "gguf":
            source = launch.OllamaSource("gguf", str(model_path(plan.source, home)))
        binary = settings.CHUNGUS_OLLAMA_BINARY
        if not plan.remote:  # on Slurm and Ray the wrapper looks on its own node's PATH
            binary = launch.find_binary(binary)
        options = launch.OllamaOptions(
            models_dir=home / "ollama" / "models",
            context_length=plan.context_length,
            num_parallel=PARALLEL,
            host="0.0.0.0" if plan.remote else "127.0.0.1",  # reachable from another node
            cpu_only=not gpus,
        )
        marker = launch.ready_marker()
        command = launch.wrapper_command(sys.executable, binary, plan.name, source, port, marker)
        env = launch.ollama_env(port, options)
        if not plan.remote:
            return LaunchSpec(name, command, port, launch.health_path(marker), env, gpus)
        # Ollama has no authentication: on the network, the wrapper's relay asks for this key.
        key = replica_secret()
        env[launch.RELAY_KEY_ENV] = key
        return LaunchSpec(name, command, port, launch.health_path(marker), env, gpus, api_key=key)

    def estimate_memory_mb(self, source: str, context_length: int, home: Path) -> tuple[int, str]:
        if launch.classify_source(source).kind == "library":
            return 0, f"not estimated: give --memory-mb (Ollama pulls {source!r} when it starts)"
        # Ollama gives each of its parallel requests the whole context.
        return gguf_memory_mb(source, context_length, home, parallel=PARALLEL)


ENGINES = (Ollama(),)
