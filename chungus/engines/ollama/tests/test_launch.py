"""Launching Ollama: the environment of `ollama serve`, sources, names, the wrapper's command."""

from chungus.engines.ollama import launch as ollama


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
    assert command[:3] == ("/py", "-m", "chungus.engines.ollama.run")
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
