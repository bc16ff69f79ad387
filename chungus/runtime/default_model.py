"""The embedded default: the packaged Gemma 3 270M on a local llama-server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from asgiref.sync import sync_to_async

from chungus.engines.base import LaunchSpec
from chungus.engines.llamacpp.engine import LlamaCpp
from chungus.engines.llamacpp.server import (
    LlamaServerOptions,
    gguf_chat_format,
    llama_server_binary,
    llama_server_command,
)
from chungus.engines.packaged import packaged_gguf
from chungus.fleet.backends import register_managed_backend
from chungus.fleet.launchers.local import LocalLauncher, free_port
from chungus.fleet.lifecycle.supervisor import Supervisor
from chungus.lib.dbthreads import fresh_connection

LAUNCHER = "local"


def default_model_spec(home: Path, options: LlamaServerOptions) -> LaunchSpec:
    """Return the launch spec of the packaged model on a free local port."""
    port = free_port()
    command = llama_server_command(llama_server_binary(), packaged_gguf(home), port, options)
    return LaunchSpec(name=f"llama-{options.alias}", command=command, port=port)


def default_model_supervisor(
    home: Path,
    options: LlamaServerOptions,
    ready_timeout: float,
    then: Callable[[], Awaitable[None]],
) -> Supervisor:
    """Return a supervisor that runs the default model and routes to it once healthy."""
    chosen = gguf_chat_format(packaged_gguf(home))  # read the header once, at start-up
    spec = default_model_spec(home, replace(options, chat_format=chosen))
    chat_format = chosen.template

    async def on_ready(address: str) -> None:
        await sync_to_async(fresh_connection(register_managed_backend))(
            options.alias,
            f"{address}/v1",
            LlamaCpp.name,
            LAUNCHER,
            upstream_model=options.alias,
            max_concurrency=max(options.parallel * 8, 16),
            chat_format=chat_format,
        )
        await then()

    return Supervisor(LocalLauncher(home / "logs"), spec, on_ready, ready_timeout=ready_timeout)
