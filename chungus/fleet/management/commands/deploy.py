"""chungus deploy NAME --source SOURCE …"""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from chungus.core.audit import audit, cli_actor
from chungus.core.commandline import ChungusCommand, non_negative_int, positive_int
from chungus.engines import registry
from chungus.fleet.lifecycle import declare as deploying
from chungus.lib.names import help_text


class Command(ChungusCommand):
    help = "Deploy a model: CHUNGUS places it on GPUs, starts it on a launcher and keeps it up."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "name", help=f"the model name clients will send ({help_text('deployment')})"
        )
        parser.add_argument(
            "--source",
            default="packaged",
            help="'packaged', a GGUF path, a Hugging Face id (vLLM) "
            "or a model in Ollama's library (Ollama, e.g. llama3.2:1b)",
        )
        parser.add_argument(
            "--engine",
            choices=deploying.engine_names(),
            default=deploying.DEFAULT_ENGINE,
        )
        parser.add_argument("--launcher", choices=deploying.LAUNCHERS, default="local")
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
        spec = deploying.Spec(
            o["name"], source=o["source"], engine=o["engine"], launcher=o["launcher"],
            replicas=o["replicas"], gpus_per_replica=o["gpus"],
            tensor_parallel=o["tensor_parallel"], pipeline_parallel=o["pipeline_parallel"],
            context_length=o["context"], memory_mb=o["memory_mb"], priority=o["priority"],
            always_warm=o["always_warm"], idle_timeout_s=o["idle_timeout"],
        )  # fmt: skip
        try:
            deployment, created = deploying.deploy(
                spec, settings.CHUNGUS_HOME, memory_given_as="--memory-mb"
            )
        except deploying.DeployError as exc:
            raise CommandError(exc.message) from None
        action = "deployment.create" if created else "deployment.update"
        audit(cli_actor(), action, deployment.name, {"engine": spec.engine, "source": spec.source})
        verb = "Deployed" if created else "Redeployed"
        self.stdout.write(
            f"{verb} {deployment.name!r} ({deployment.memory_note}); "
            "`chungus deployments list` shows its state."
        )
        note = _chat_note(deployment.engine, deployment.source)
        if note:
            self.stdout.write(note)


def _chat_note(engine_name: str, source: str) -> str:
    """Which turn format the model will be prompted in, or that it gets no chat."""
    engine = registry.get(engine_name)
    chosen = engine.turn_format(source, settings.CHUNGUS_HOME) if engine is not None else None
    if chosen is None:
        return ""  # the engine's own business, or no readable GGUF yet (its state will say)
    if not chosen.chat:
        return f"No chat format ({chosen.reason}): chat requests get a 400; use /v1/completions."
    return f"Chat format: {chosen.name} ({chosen.reason})."
