"""From a Deployment row to what a launcher runs (launch specs, memory estimates)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chungus.fleet.launchers.base import LaunchSpec
from chungus.fleet.launchers.local import free_port
from chungus.fleet.llamacpp import LlamaServerOptions, llama_server_binary, llama_server_command
from chungus.fleet.packaged import packaged_gguf
from chungus.fleet.vllm import VllmOptions, vllm_command

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class DeploymentPlan:
    """The parts of a Deployment that decide how it runs."""

    name: str
    source: str
    engine: str
    gpus: int
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    context_length: int = 4096
    threads: int = 1


def model_path(source: str, home: Path) -> Path:
    """A GGUF file for llama.cpp: the packaged model, or a path."""
    if source == "packaged":
        return packaged_gguf(home)
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    return path


def launch_spec(
    plan: DeploymentPlan, home: Path, replica: int, gpus: tuple[int, ...]
) -> LaunchSpec:
    """The command for one replica of the deployment, on a free port."""
    port = free_port()
    name = f"{plan.name}-{replica}"
    if plan.engine == "vllm":
        vllm = VllmOptions(
            served_model_name=plan.name,
            tensor_parallel_size=plan.tensor_parallel,
            pipeline_parallel_size=plan.pipeline_parallel,
            max_model_len=plan.context_length,
        )
        return LaunchSpec(name, vllm_command(plan.source, port, vllm), port, gpus=gpus)
    if plan.engine != "llamacpp":
        raise ValueError(
            f"CHUNGUS cannot launch {plan.engine} engines yet; register them as backends"
        )
    options = LlamaServerOptions(alias=plan.name, threads=plan.threads, context=plan.context_length)
    command = llama_server_command(
        llama_server_binary(), model_path(plan.source, home), port, options
    )
    return LaunchSpec(name, command, port, gpus=gpus)


def estimate_memory_mb(
    source: str, engine: str, context_length: int, home: Path
) -> tuple[int, str]:
    """Memory per GPU for a deployment, with how it was estimated."""
    if engine == "llamacpp":
        try:
            size = model_path(source, home).stat().st_size
        except (FileNotFoundError, ImportError) as exc:
            return 0, f"unknown: {exc}"
        kv = context_length * 0.05  # MB: a rough KV-cache allowance per context token
        total = int(size / MB * 1.1 + kv)
        note = f"GGUF {size / MB:.0f} MB + 10% + KV cache for {context_length} tokens ≈ {total} MB"
        return total, note
    return 0, "not estimated: give --memory-mb (vLLM takes --gpu-memory-utilization of each GPU)"
