"""chungus deploy NAME --source SOURCE …"""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.db import transaction

from chungus.core.commandline import ChungusCommand, non_negative_int, positive_int
from chungus.fleet.deployments import estimate_memory_mb
from chungus.fleet.models import Deployment, DeploymentState, Engine, Model
from chungus.fleet.ollama import name_problem


class Command(ChungusCommand):
    help = "Deploy a model: CHUNGUS places it on GPUs, starts it on a launcher and keeps it up."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="the model name clients will send")
        parser.add_argument(
            "--source",
            default="packaged",
            help="'packaged', a GGUF path, a Hugging Face id (vLLM) "
            "or a model in Ollama's library (Ollama, e.g. llama3.2:1b)",
        )
        parser.add_argument(
            "--engine",
            choices=[Engine.LLAMACPP, Engine.VLLM, Engine.OLLAMA],
            default=Engine.LLAMACPP,
        )
        parser.add_argument("--launcher", choices=["local", "slurm", "ray"], default="local")
        parser.add_argument("--replicas", type=positive_int, default=1)
        parser.add_argument(
            "--gpus",
            type=non_negative_int,
            help="GPUs per replica (0: CPU; vLLM: tensor x pipeline parallel size)",
        )
        parser.add_argument("--tensor-parallel", type=positive_int, default=1)
        parser.add_argument("--pipeline-parallel", type=positive_int, default=1)
        parser.add_argument("--context", type=positive_int, default=4096, help="context length")
        parser.add_argument(
            "--memory-mb", type=non_negative_int, help="memory per GPU (default: estimated)"
        )
        parser.add_argument("--priority", type=int, default=0, help="higher may evict lower")
        parser.add_argument(
            "--always-warm", action="store_true", help="never unload; warm up on schedule"
        )
        parser.add_argument(
            "--idle-timeout",
            type=non_negative_int,
            default=0,
            help="seconds without requests before unloading (0: never)",
        )

    def handle(self, *args: Any, **o: Any) -> None:
        if o["engine"] == Engine.OLLAMA and name_problem(o["name"]):
            raise CommandError(name_problem(o["name"]))  # Ollama serves it under this name
        o["gpus"] = gpus_per_replica(
            o["engine"], o["gpus"], o["tensor_parallel"], o["pipeline_parallel"]
        )
        memory, note = estimate_memory_mb(
            o["source"], o["engine"], o["context"], settings.CHUNGUS_HOME
        )
        if o["memory_mb"] is not None:
            memory, note = o["memory_mb"], "given with --memory-mb"
        with transaction.atomic():
            Model.objects.get_or_create(name=o["name"])
            deployment, created = Deployment.objects.update_or_create(
                name=o["name"],
                defaults={
                    "source": o["source"], "engine": o["engine"], "launcher": o["launcher"],
                    "replicas": o["replicas"], "gpus_per_replica": o["gpus"],
                    "tensor_parallel": o["tensor_parallel"],
                    "pipeline_parallel": o["pipeline_parallel"],
                    "context_length": o["context"], "memory_mb": memory, "memory_note": note,
                    "priority": o["priority"], "always_warm": o["always_warm"],
                    "idle_timeout_s": o["idle_timeout"], "desired": "running",
                    "state": DeploymentState.PENDING, "state_reason": "waiting for the reconciler",
                    "wake_requested_at": None,
                },
            )  # fmt: skip
        verb = "Deployed" if created else "Redeployed"
        self.stdout.write(
            f"{verb} {deployment.name!r} ({note}); `chungus deployments list` shows its state."
        )


def gpus_per_replica(engine: str, gpus: int | None, tensor: int, pipeline: int) -> int:
    """GPUs one replica takes; vLLM's parallel sizes must multiply to it."""
    if engine != Engine.VLLM:
        if tensor * pipeline > 1:
            raise CommandError("--tensor-parallel and --pipeline-parallel are for vLLM deployments")
        return gpus or 0
    needed = tensor * pipeline
    if gpus == 0 and needed == 1:
        return 0  # vLLM's CPU build
    if gpus is not None and gpus != needed:
        raise CommandError(
            f"vLLM runs one worker per GPU: --gpus {gpus} does not match "
            f"--tensor-parallel {tensor} x --pipeline-parallel {pipeline} = {needed}"
        )
    return needed
