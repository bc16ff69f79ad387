"""The Ollama engine: `ollama serve` launched behind its wrapper, and memory estimates."""

import sys
from pathlib import Path

import pytest

from chungus.engines import registry
from chungus.engines.base import DeploymentPlan
from chungus.testing.fake_ollama import write_ollama_command

OLLAMA = registry.by_name()["ollama"]
PORT = 9000


def pairs(command):
    return dict(zip(command[3::2], command[4::2], strict=False))


def launch_spec(plan, home, gpus):
    return OLLAMA.launch_spec(plan, home, f"{plan.name}-0", PORT, gpus)


def test_launch_spec_starts_the_wrapper_on_this_host(tmp_path, settings):
    settings.CHUNGUS_OLLAMA_BINARY = str(write_ollama_command(tmp_path / "bin"))
    plan = DeploymentPlan("chat", "llama3.2:1b", "ollama", 1, context_length=8192, launcher="local")
    spec = launch_spec(plan, tmp_path, (1,))
    marker = pairs(spec.command[:-3])["--ready-marker"]
    assert spec.command[0] == sys.executable and spec.command[-2] == settings.CHUNGUS_OLLAMA_BINARY
    assert spec.health_path == f"/v1/models/{marker}" and spec.gpus == (1,)
    assert spec.env["OLLAMA_HOST"] == f"127.0.0.1:{spec.port}"
    assert spec.env["OLLAMA_MODELS"] == str(tmp_path / "ollama" / "models")
    assert spec.env["OLLAMA_CONTEXT_LENGTH"] == "8192"
    assert "CUDA_VISIBLE_DEVICES" not in spec.env  # the launcher sets the placed GPU


def test_on_slurm_and_ray_it_listens_on_all_interfaces_and_finds_ollama_there(tmp_path, settings):
    settings.CHUNGUS_OLLAMA_BINARY = "ollama-only-on-the-cluster"
    plan = DeploymentPlan("chat", "llama3.2:1b", "ollama", 1, launcher="slurm")
    spec = launch_spec(plan, tmp_path, (0,))
    assert spec.env["OLLAMA_HOST"] == f"0.0.0.0:{spec.port}"
    assert spec.command[-2] == "ollama-only-on-the-cluster"


def test_a_gguf_file_is_handed_to_the_wrapper_by_its_full_path(tmp_path, settings):
    settings.CHUNGUS_OLLAMA_BINARY = str(write_ollama_command(tmp_path / "bin"))
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    spec = launch_spec(DeploymentPlan("chat", str(model), "ollama", 0), tmp_path, ())
    assert pairs(spec.command[:-3])["--gguf"] == str(model)
    assert spec.env["CUDA_VISIBLE_DEVICES"] == "-1"  # a CPU deployment


def test_a_missing_ollama_fails_the_launch_saying_how_to_fix_it(tmp_path, settings):
    settings.CHUNGUS_OLLAMA_BINARY = "no-such-ollama-here"
    plan = DeploymentPlan("chat", "llama3.2:1b", "ollama", 0, launcher="local")
    with pytest.raises(FileNotFoundError, match="CHUNGUS_OLLAMA_BINARY"):
        launch_spec(plan, tmp_path, ())


def test_a_name_ollama_refuses_fails_the_launch(tmp_path):
    with pytest.raises(ValueError, match="not a valid Ollama model name"):
        launch_spec(DeploymentPlan("my model", "llama3.2", "ollama", 0), tmp_path, ())


def test_memory_is_not_estimated_for_a_library_model(tmp_path):
    memory, note = OLLAMA.estimate_memory_mb("llama3.2:1b", 4096, tmp_path)
    assert memory == 0 and note.startswith("not estimated: give --memory-mb")


def test_memory_for_a_gguf_counts_the_context_of_each_parallel_request(models_home: Path):
    llamacpp, _ = registry.by_name()["llamacpp"].estimate_memory_mb("packaged", 4096, models_home)
    memory, note = OLLAMA.estimate_memory_mb("packaged", 4096, models_home)
    assert "KV cache 144 MB" in note and "2 x 4096 tokens" in note
    assert memory > llamacpp


def test_on_slurm_and_ray_the_wrapper_gets_a_secret_for_its_relay_and_no_flag_shows_it(
    tmp_path, settings
):
    settings.CHUNGUS_OLLAMA_BINARY = "ollama"
    plan = DeploymentPlan("chat", "llama3.2:1b", "ollama", 1, launcher="ray")
    spec = launch_spec(plan, tmp_path, (0,))
    other = launch_spec(plan, tmp_path, (0,))
    assert len(spec.api_key) >= 32 and spec.api_key != other.api_key  # one per replica
    assert spec.env["CHUNGUS_OLLAMA_RELAY_KEY"] == spec.api_key
    assert spec.api_key not in " ".join(spec.command) and spec.api_key not in repr(spec)


def test_on_this_host_ollama_has_no_secret(tmp_path, settings):
    settings.CHUNGUS_OLLAMA_BINARY = str(write_ollama_command(tmp_path / "bin"))
    spec = launch_spec(DeploymentPlan("chat", "llama3.2:1b", "ollama", 0), tmp_path, ())
    assert spec.api_key == "" and "CHUNGUS_OLLAMA_RELAY_KEY" not in spec.env
