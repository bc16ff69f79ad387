"""Ollama deployments: the launch of `ollama serve` behind its wrapper, and memory estimates."""

import sys
from pathlib import Path

import pytest

from chungus.fleet import ollama
from chungus.fleet.deployments import DeploymentPlan, estimate_memory_mb, launch_spec
from chungus.testing.fake_ollama import write_ollama_command


def pairs(command):
    return dict(zip(command[3::2], command[4::2], strict=False))


def test_the_environment_pins_host_models_keep_alive_parallel_and_context(tmp_path):
    options = ollama.OllamaOptions(models_dir=tmp_path, context_length=8192, num_parallel=3)
    env = ollama.ollama_env(9000, options)
    assert env["OLLAMA_HOST"] == "127.0.0.1:9000"
    assert env["OLLAMA_MODELS"] == str(tmp_path)
    assert env["OLLAMA_KEEP_ALIVE"] == "-1"  # CHUNGUS, not Ollama, decides when to unload
    assert env["OLLAMA_NUM_PARALLEL"] == "3" and env["OLLAMA_CONTEXT_LENGTH"] == "8192"
    assert env["OLLAMA_NOPRUNE"] == "1"  # replicas share the models directory
    assert "CUDA_VISIBLE_DEVICES" not in env  # the launcher pins GPUs


def test_a_replica_placed_on_no_gpu_keeps_off_the_hosts_gpus(tmp_path):
    options = ollama.OllamaOptions(models_dir=tmp_path, cpu_only=True)
    assert ollama.ollama_env(9000, options)["CUDA_VISIBLE_DEVICES"] == "-1"


def test_library_names_are_pulled_and_files_are_created():
    assert ollama.classify_source("llama3.2:1b") == ollama.OllamaSource("library", "llama3.2:1b")
    assert ollama.classify_source("hf.co/bartowski/x-GGUF:Q4_K_M").kind == "library"
    for source in ("packaged", "/models/q4.gguf", "./m.GGUF", "~/models/blob"):
        assert ollama.classify_source(source).kind == "gguf"


def test_the_wrapper_runs_in_front_of_ollama_serve():
    source = ollama.OllamaSource("library", "gemma3:270m")
    command = ollama.wrapper_command("/py", "/bin/ollama", "chat", source, 9000, "chungus-ready-1")
    assert command[:3] == ("/py", "-m", "chungus.fleet.ollama_run")
    assert command[-3:] == ("--", "/bin/ollama", "serve")
    assert pairs(command[:-3]) == {
        "--name": "chat", "--pull": "gemma3:270m", "--port": "9000",
        "--ready-marker": "chungus-ready-1",
    }  # fmt: skip
    gguf = ollama.wrapper_command(
        "/py", "ollama", "chat", ollama.OllamaSource("gguf", "/m.gguf"), 1, "m"
    )
    assert pairs(gguf[:-3])["--gguf"] == "/m.gguf"


def test_names_ollama_would_refuse_are_caught():
    for good in ("chat", "llama3.2:1b", "team/chat:v2", "hf.co/org/model:Q4_K_M"):
        assert ollama.name_problem(good) == ""
    for bad in ("my model", "a:b:c", "", "-x", "a/b/c/d"):
        assert "not a valid Ollama model name" in ollama.name_problem(bad)


def test_a_name_without_a_tag_is_the_latest_tag():
    assert ollama.same_model("llama3.2", "llama3.2:latest")
    assert ollama.same_model("Chat", "chat")
    assert not ollama.same_model("llama3.2", "llama3.2:1b")


def test_progress_lines_say_how_far_a_download_is():
    event = {
        "status": "pulling abc",
        "digest": "abc",
        "total": 2_000_000_000,
        "completed": 500_000_000,
    }
    assert ollama.describe_progress("m", event) == "m: pulling abc 25% of 2.00 GB"
    assert ollama.describe_progress("m", {"status": "success"}) == "m: success"


def test_manifests_live_where_ollama_keeps_them(tmp_path):
    library = tmp_path / "manifests" / "registry.ollama.ai" / "library"
    assert ollama.manifest_path(tmp_path, "chat") == library / "chat" / "latest"
    assert ollama.manifest_path(tmp_path, "llama3.2:1b") == library / "llama3.2" / "1b"
    assert ollama.manifest_path(tmp_path, "team/chat:v2") == (
        tmp_path / "manifests" / "registry.ollama.ai" / "team" / "chat" / "v2"
    )
    assert ollama.manifest_path(tmp_path, "hf.co/org/m:Q4") == tmp_path / "manifests/hf.co/org/m/Q4"


def test_each_launch_waits_on_its_own_ready_marker():
    first, second = ollama.ready_marker(), ollama.ready_marker()
    assert first != second and ollama.name_problem(first) == ""
    assert ollama.health_path(first) == f"/v1/models/{first}"


def test_launch_spec_starts_the_wrapper_on_this_host(tmp_path, settings):
    settings.CHUNGUS_OLLAMA_BINARY = str(write_ollama_command(tmp_path / "bin"))
    plan = DeploymentPlan("chat", "llama3.2:1b", "ollama", 1, context_length=8192, launcher="local")
    spec = launch_spec(plan, tmp_path, 0, (1,))
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
    spec = launch_spec(plan, tmp_path, 0, (0,))
    assert spec.env["OLLAMA_HOST"] == f"0.0.0.0:{spec.port}"
    assert spec.command[-2] == "ollama-only-on-the-cluster"


def test_a_gguf_file_is_handed_to_the_wrapper_by_its_full_path(tmp_path, settings):
    settings.CHUNGUS_OLLAMA_BINARY = str(write_ollama_command(tmp_path / "bin"))
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    spec = launch_spec(DeploymentPlan("chat", str(model), "ollama", 0), tmp_path, 0, ())
    assert pairs(spec.command[:-3])["--gguf"] == str(model)
    assert spec.env["CUDA_VISIBLE_DEVICES"] == "-1"  # a CPU deployment


def test_a_missing_ollama_fails_the_launch_saying_how_to_fix_it(tmp_path, settings):
    settings.CHUNGUS_OLLAMA_BINARY = "no-such-ollama-here"
    plan = DeploymentPlan("chat", "llama3.2:1b", "ollama", 0, launcher="local")
    with pytest.raises(FileNotFoundError, match="CHUNGUS_OLLAMA_BINARY"):
        launch_spec(plan, tmp_path, 0, ())


def test_a_name_ollama_refuses_fails_the_launch(tmp_path):
    with pytest.raises(ValueError, match="not a valid Ollama model name"):
        launch_spec(DeploymentPlan("my model", "llama3.2", "ollama", 0), tmp_path, 0, ())


def test_memory_is_not_estimated_for_a_library_model(tmp_path):
    memory, note = estimate_memory_mb("llama3.2:1b", "ollama", 4096, tmp_path)
    assert memory == 0 and note.startswith("not estimated: give --memory-mb")


def test_memory_for_a_gguf_counts_the_context_of_each_parallel_request(models_home: Path):
    llamacpp, _ = estimate_memory_mb("packaged", "llamacpp", 4096, models_home)
    memory, note = estimate_memory_mb("packaged", "ollama", 4096, models_home)
    assert "KV cache 144 MB" in note and "2 x 4096 tokens" in note
    assert memory > llamacpp
