"""Launching Ollama for a deployment: the `ollama serve` command, its environment, its model (pure).

A replica runs `python -m chungus.engines.ollama.run … ollama serve`: the wrapper
starts Ollama, gets the model into it (pull a library name, or create it from a
GGUF file), names it after the deployment, loads it, and only then copies it to
a one-off *ready marker* name. The launch's health path is Ollama's own
`GET /v1/models/<marker>`, which answers 404 until that copy exists, so every
launcher (local, Slurm, Ray) sees the replica ready only once the model is
pulled and loaded, and the launcher contract stays as it is. A marker per launch,
rather than the deployment's name, keeps a model left in the shared models
directory by an earlier run from looking ready before this run has refreshed it.
"""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PORT = 11434
WRAPPER = "chungus.engines.ollama.run"
# The replica's secret, for the wrapper only: with it, the wrapper keeps `ollama serve` on
# the node's loopback and puts its authenticating relay (relay.py) on OLLAMA_HOST instead.
RELAY_KEY_ENV = "CHUNGUS_OLLAMA_RELAY_KEY"
# Ollama's names: [host/][namespace/]model[:tag], letters, digits, `_`, `.`, `-`.
_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"
_NAME = re.compile(rf"^(?:{_PART}/){{0,2}}{_PART}(?::{_PART})?$")


@dataclass(frozen=True, slots=True)
class OllamaOptions:
    models_dir: Path
    context_length: int = 4096  # tokens per request (Ollama's num_ctx)
    num_parallel: int = 2  # requests served at once; each gets the full context
    host: str = "127.0.0.1"  # 0.0.0.0 where CHUNGUS reaches it from another machine
    cpu_only: bool = False  # placed on no GPU: keep Ollama off the host's GPUs too


@dataclass(frozen=True, slots=True)
class OllamaSource:
    """Where the model comes from: a name in Ollama's library, or a GGUF file."""

    kind: str  # "library" | "gguf"
    value: str  # the library name, or the file's path


def ollama_env(port: int, options: OllamaOptions) -> dict[str, str]:
    """The environment of `ollama serve` for one replica (the launcher pins its GPUs)."""
    env = {
        "OLLAMA_HOST": f"{options.host}:{port}",
        "OLLAMA_MODELS": str(options.models_dir),
        # CHUNGUS decides when a model leaves memory (idle unload stops the replica).
        "OLLAMA_KEEP_ALIVE": "-1",
        "OLLAMA_NUM_PARALLEL": str(options.num_parallel),
        "OLLAMA_MAX_LOADED_MODELS": "1",
        "OLLAMA_CONTEXT_LENGTH": str(options.context_length),
        # Several replicas share the models directory: one starting must not prune
        # the layers another is still pulling.
        "OLLAMA_NOPRUNE": "1",
    }
    if options.cpu_only:  # Ollama's documented way to ignore the GPUs: an invalid GPU id
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    return env


def classify_source(source: str) -> OllamaSource:
    """'packaged' or a path ending in .gguf (or starting with / . ~) is a file; else a name."""
    if source == "packaged":
        return OllamaSource("gguf", source)
    if source.lower().endswith(".gguf") or source.startswith(("/", "./", "../", "~")):
        return OllamaSource("gguf", source)
    return OllamaSource("library", source)


def name_problem(name: str) -> str:
    """Why Ollama would refuse `name` as a model name, or '' when it is fine."""
    if _NAME.match(name):
        return ""
    return (
        f"{name!r} is not a valid Ollama model name: use letters, digits, '_', '.', '-' "
        "with an optional ':tag' (e.g. llama3.2:1b)"
    )


def same_model(a: str, b: str) -> bool:
    """True when two Ollama names mean one model (`llama3.2` is `llama3.2:latest`)."""

    def full(name: str) -> str:
        last = name.rsplit("/", 1)[-1]
        return (name if ":" in last else f"{name}:latest").lower()

    return full(a) == full(b)


def ready_marker() -> str:
    """A fresh name the wrapper copies the loaded model to once it is ready."""
    return f"chungus-ready-{secrets.token_hex(6)}"


def manifest_path(models_dir: Path, name: str) -> Path:
    """Where Ollama keeps a model's manifest: manifests/HOST/NAMESPACE/MODEL/TAG."""
    last = name.rsplit("/", 1)[-1]
    rest, tag = name.rsplit(":", 1) if ":" in last else (name, "latest")
    parts = rest.split("/")
    defaults = ["registry.ollama.ai", "library"][: max(0, 3 - len(parts))]
    return models_dir.joinpath("manifests", *defaults, *parts, tag)


def health_path(marker: str) -> str:
    """Ollama's GET that answers 200 only once the marker exists."""
    return f"/v1/models/{marker}"


def wrapper_command(
    python: str, binary: str, name: str, source: OllamaSource, port: int, marker: str
) -> tuple[str, ...]:
    """The command line of one replica: the wrapper, which runs `BINARY serve`."""
    flag = "--pull" if source.kind == "library" else "--gguf"
    return (
        python, "-m", WRAPPER,
        "--name", name,
        flag, source.value,
        "--port", str(port),
        "--ready-marker", marker,
        "--", binary, "serve",
    )  # fmt: skip


def find_binary(configured: str) -> str:
    """The Ollama executable: a path, or a name looked up on PATH."""
    found = shutil.which(configured)
    if found is None:
        raise FileNotFoundError(
            f"Ollama is not installed here ({configured!r} is not on PATH): install it "
            "(https://ollama.com/download) or set CHUNGUS_OLLAMA_BINARY"
        )
    return found


def describe_progress(model: str, event: dict[str, Any]) -> str:
    """One log line for a line of Ollama's pull or create progress."""
    status = str(event.get("status", ""))
    total, completed = event.get("total"), event.get("completed")
    if isinstance(total, int) and total > 0 and isinstance(completed, int):
        share = 100 * completed / total
        return f"{model}: {status} {share:.0f}% of {total / 1e9:.2f} GB"
    return f"{model}: {status}"
