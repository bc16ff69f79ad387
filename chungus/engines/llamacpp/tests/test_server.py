"""llama-server's command line, and the installed binary."""

from pathlib import Path

from chungus.engines.llamacpp.chat_format import OWN, ChatFormat
from chungus.engines.llamacpp.server import (
    LlamaServerOptions,
    llama_server_binary,
    llama_server_command,
)


def test_it_builds_the_llama_server_command_line():
    command = llama_server_command(
        Path("/bin/llama-server"),
        Path("/m.gguf"),
        8080,
        LlamaServerOptions(alias="g", swa_full=True, chat_format=ChatFormat(OWN, "chosen")),
    )
    assert command[0] == "/bin/llama-server"
    pairs = dict(zip(command[1::2], command[2::2], strict=False))
    assert pairs["--model"] == "/m.gguf" and pairs["--port"] == "8080" and pairs["--alias"] == "g"
    assert (
        pairs["--threads"] == "1" and pairs["--parallel"] == "2" and pairs["--ctx-size"] == "4096"
    )
    assert "--metrics" in command and "--no-webui" in command and "--swa-full" in command
    assert command[-1] == "--jinja"  # a chosen format is not read again from the file


def test_the_installed_binary_is_found_and_runnable():
    binary = llama_server_binary()
    assert binary.name == "llama-server" and binary.stat().st_mode & 0o111


def test_amx_is_read_from_the_cpu_flags(tmp_path):
    from chungus.engines.llamacpp.server import cpu_has_amx

    amx, plain = tmp_path / "amx", tmp_path / "plain"
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 amx_tile amx_int8\n")
    plain.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f\n")
    assert cpu_has_amx.__wrapped__(amx)
    assert not cpu_has_amx.__wrapped__(plain)
    assert not cpu_has_amx.__wrapped__(tmp_path / "missing")


def test_repacking_is_off_on_cpus_with_amx(monkeypatch):
    from chungus.engines.llamacpp import server

    options = LlamaServerOptions(alias="g", chat_format=ChatFormat(OWN, "chosen"))
    for amx in (True, False):
        monkeypatch.setattr(server, "cpu_has_amx", lambda amx=amx: amx)
        command = llama_server_command(Path("/bin/llama-server"), Path("/m.gguf"), 1, options)
        assert ("--no-repack" in command) is amx
