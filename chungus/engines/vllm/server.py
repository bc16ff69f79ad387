"""vLLM's OpenAI server: how to start it for a deployment (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class VllmOptions:
    served_model_name: str
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    host: str = "127.0.0.1"  # 0.0.0.0 where CHUNGUS reaches it from another node
    distributed_backend: str = ""  # "ray" for multi-node tensor/pipeline parallelism
    middleware: tuple[str, ...] = ()  # import paths of ASGI middleware vLLM wraps its app in
    extra: tuple[str, ...] = ()


def vllm_command(
    model: str, port: int, options: VllmOptions, binary: str = "vllm"
) -> tuple[str, ...]:
    """Return the `vllm serve` command line for one model (a local path or a Hugging Face id)."""
    command = [
        binary, "serve", model,
        "--host", options.host,
        "--port", str(port),
        "--served-model-name", options.served_model_name,
        "--tensor-parallel-size", str(options.tensor_parallel_size),
        "--pipeline-parallel-size", str(options.pipeline_parallel_size),
        "--gpu-memory-utilization", str(options.gpu_memory_utilization),
    ]  # fmt: skip
    if options.max_model_len:
        command += ["--max-model-len", str(options.max_model_len)]
    if options.distributed_backend:
        command += ["--distributed-executor-backend", options.distributed_backend]
    for middleware in options.middleware:
        command += ["--middleware", middleware]
    return (*command, *options.extra)


def gpus_needed(options: VllmOptions) -> int:
    """GPUs one replica occupies: tensor x pipeline parallel size."""
    return options.tensor_parallel_size * options.pipeline_parallel_size


BACKEND_FLAG = "--distributed-executor-backend"


def is_vllm_serve(command: tuple[str, ...]) -> bool:
    """Whether a command line starts vLLM's OpenAI server (`vllm serve`, or `python -m` a
    module of vLLM or a stand-in for it named so)."""
    if len(command) >= 2 and Path(command[0]).name == "vllm":
        return command[1] == "serve"
    if len(command) >= 3 and command[1] == "-m":
        return any("vllm" in part for part in command[2].split("."))
    return False


def with_ray_backend(command: tuple[str, ...]) -> tuple[str, ...]:
    """The vLLM command with `--distributed-executor-backend ray` exactly once, replacing
    any other backend (the Ray launcher reserves the GPUs as Ray bundles; only Ray's
    executor uses them)."""
    out: list[str] = []
    skip = False
    for arg in command:
        if skip:
            skip = False
        elif arg == BACKEND_FLAG:
            skip = True
        elif not arg.startswith(BACKEND_FLAG + "="):
            out.append(arg)
    return (*out, BACKEND_FLAG, "ray")
