"""vLLM as an engine: `vllm serve` across GPUs, spoken to in OpenAI's API."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from chungus.engines.base import DeploymentPlan, Engine, LaunchSpec, replica_secret
from chungus.engines.load import EngineLoad
from chungus.engines.openai.adapter import OpenAIAdapter
from chungus.engines.vllm.load import vllm_load
from chungus.engines.vllm.server import VllmOptions, vllm_command
from chungus.lib.child_env import HUB_TOKEN

API_KEY_ENV = "VLLM_API_KEY"  # vLLM's environment name for --api-key


class VllmAdapter(OpenAIAdapter):
    health_path = "/health"


class Vllm(Engine):
    name = "vllm"
    label = "vLLM"
    rank = 20
    launchable = True
    fetches_model = True  # it may download the weights from Hugging Face first
    spans_gpus = True
    load_paths = ("/metrics",)
    adapter_class = VllmAdapter

    def launch_spec(
        self, plan: DeploymentPlan, home: Path, name: str, port: int, gpus: tuple[int, ...]
    ) -> LaunchSpec:
        options = VllmOptions(
            served_model_name=plan.name,
            tensor_parallel_size=plan.tensor_parallel,
            pipeline_parallel_size=plan.pipeline_parallel,
            max_model_len=plan.context_length,
            host="0.0.0.0" if plan.remote else "127.0.0.1",  # CHUNGUS is elsewhere
        )
        command = vllm_command(plan.source, port, options)
        # Only an engine that downloads from the Hub gets the token (for gated models).
        hub = (HUB_TOKEN,) if from_hub(plan.source) else ()
        if not plan.remote:
            return LaunchSpec(name, command, port, self.health_path, gpus=gpus, pass_env=hub)
        # On the network: vLLM wants this key on /v1 (not on /health, /metrics); it reads
        # it from its environment, which `ps` does not show.
        key = replica_secret()
        env = {API_KEY_ENV: key}
        return LaunchSpec(
            name, command, port, self.health_path, env, gpus, api_key=key, pass_env=hub
        )

    def estimate_memory_mb(self, source: str, context_length: int, home: Path) -> tuple[int, str]:
        return (
            0,
            "not estimated: give --memory-mb (vLLM takes --gpu-memory-utilization of each GPU)",
        )

    def parse_load(self, reports: Mapping[str, str | None]) -> EngineLoad:
        return vllm_load(reports.get("/metrics"))


def from_hub(source: str) -> bool:
    """Whether vLLM downloads `source` from Hugging Face: an id, not a local path."""
    return not source.startswith(("/", "./", "../", "~")) and not Path(source).exists()


ENGINES = (Vllm(),)
