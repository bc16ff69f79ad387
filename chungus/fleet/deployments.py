"""From a Deployment row to what a launcher runs (launch specs, memory estimates)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from chungus.fleet import ollama
from chungus.fleet.gguf_meta import gguf_metadata, kv_cache_bytes
from chungus.fleet.launchers.base import LaunchSpec
from chungus.fleet.launchers.local import free_port
from chungus.fleet.llamacpp import LlamaServerOptions, llama_server_binary, llama_server_command
from chungus.fleet.packaged import packaged_gguf
from chungus.fleet.vllm import VllmOptions, vllm_command

MB = 1024 * 1024
OLLAMA_PARALLEL = 2  # requests one Ollama replica serves at once, as llama.cpp's slots


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
    launcher: str = ""  # "local", "slurm", "ray"; "" when the caller does not say


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
    if plan.engine == "ollama":
        return ollama_launch_spec(plan, home, name, port, gpus)
    if plan.engine != "llamacpp":
        raise ValueError(
            f"CHUNGUS cannot launch {plan.engine} engines yet; register them as backends"
        )
    options = LlamaServerOptions(
        alias=plan.name,
        threads=plan.threads,
        context=plan.context_length,
        host="127.0.0.1" if plan.launcher in ("", "local") else "0.0.0.0",  # CHUNGUS is elsewhere
    )
    command = llama_server_command(
        llama_server_binary(), model_path(plan.source, home), port, options
    )
    return LaunchSpec(name, command, port, gpus=gpus)


def ollama_launch_spec(
    plan: DeploymentPlan, home: Path, name: str, port: int, gpus: tuple[int, ...]
) -> LaunchSpec:
    """`ollama serve` behind the wrapper that pulls or creates the model and loads it."""
    problem = ollama.name_problem(plan.name)
    if problem:
        raise ValueError(problem)
    source = ollama.classify_source(plan.source)
    if source.kind == "gguf":
        source = ollama.OllamaSource("gguf", str(model_path(plan.source, home)))
    local = plan.launcher in ("", "local")
    binary = settings.CHUNGUS_OLLAMA_BINARY
    if local:  # on Slurm and Ray the wrapper looks on its own node's PATH
        binary = ollama.find_binary(binary)
    options = ollama.OllamaOptions(
        models_dir=home / "ollama" / "models",
        context_length=plan.context_length,
        num_parallel=OLLAMA_PARALLEL,
        host="127.0.0.1" if local else "0.0.0.0",  # reachable by CHUNGUS from another node
        cpu_only=not gpus,
    )
    marker = ollama.ready_marker()
    command = ollama.wrapper_command(sys.executable, binary, plan.name, source, port, marker)
    env = ollama.ollama_env(port, options)
    return LaunchSpec(name, command, port, ollama.health_path(marker), env, gpus)


def estimate_memory_mb(
    source: str, engine: str, context_length: int, home: Path
) -> tuple[int, str]:
    """Memory per GPU for a deployment, with how it was estimated."""
    if engine == "vllm":
        return (
            0,
            "not estimated: give --memory-mb (vLLM takes --gpu-memory-utilization of each GPU)",
        )
    tokens, slots = context_length, ""
    if engine == "ollama":
        if ollama.classify_source(source).kind == "library":
            return 0, f"not estimated: give --memory-mb (Ollama pulls {source!r} when it starts)"
        # Ollama gives each of its parallel requests the whole context.
        tokens, slots = context_length * OLLAMA_PARALLEL, f"{OLLAMA_PARALLEL} x "
    elif engine != "llamacpp":
        return 0, f"not estimated: give --memory-mb (CHUNGUS does not launch {engine})"
    try:
        path = model_path(source, home)
        meta = gguf_metadata(path)
    except (FileNotFoundError, ImportError, ValueError, OSError) as exc:
        return 0, f"unknown: {exc}"
    weights = path.stat().st_size / MB
    kv = kv_cache_bytes(meta, tokens) / MB
    total = int((weights + kv) * 1.1)
    note = (
        f"GGUF weights {weights:.0f} MB + KV cache {kv:.0f} MB "
        f"({meta.get('block_count')} layers, {meta.get('attention.head_count_kv')} KV heads, "
        f"{slots}{context_length} tokens, f16) + 10% for compute buffers = {total} MB"
    )
    return total, note
