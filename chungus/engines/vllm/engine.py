"""vLLM as an engine: `vllm serve` across GPUs, spoken to in OpenAI's API."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from chungus.engines.base import DeploymentPlan, Engine, LaunchSpec
from chungus.engines.load import EngineLoad
from chungus.engines.openai.adapter import OpenAIAdapter
from chungus.engines.vllm.load import vllm_load
from chungus.engines.vllm.server import VllmOptions, vllm_command


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
        )
        command = vllm_command(plan.source, port, options)
        return LaunchSpec(name, command, port, self.health_path, gpus=gpus)

    def estimate_memory_mb(self, source: str, context_length: int, home: Path) -> tuple[int, str]:
        return (
            0,
            "not estimated: give --memory-mb (vLLM takes --gpu-memory-utilization of each GPU)",
        )

    def parse_load(self, reports: Mapping[str, str | None]) -> EngineLoad:
        return vllm_load(reports.get("/metrics"))


ENGINES = (Vllm(),)
