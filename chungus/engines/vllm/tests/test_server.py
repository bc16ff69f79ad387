"""`vllm serve`'s command line, and telling it from other engines' (for the Ray launcher)."""

from chungus.engines.vllm.server import (
    VllmOptions,
    gpus_needed,
    is_vllm_serve,
    vllm_command,
    with_ray_backend,
)


def test_it_builds_the_vllm_serve_command_line():
    options = VllmOptions(
        served_model_name="llama", tensor_parallel_size=4, pipeline_parallel_size=2,
        max_model_len=8192, gpu_memory_utilization=0.85, distributed_backend="ray",
    )  # fmt: skip
    command = vllm_command("meta-llama/Llama-3.1-70B-Instruct", 8000, options)
    assert command[:3] == ("vllm", "serve", "meta-llama/Llama-3.1-70B-Instruct")
    pairs = dict(zip(command[3::2], command[4::2], strict=False))
    assert pairs["--port"] == "8000" and pairs["--served-model-name"] == "llama"
    assert pairs["--tensor-parallel-size"] == "4" and pairs["--pipeline-parallel-size"] == "2"
    assert pairs["--max-model-len"] == "8192" and pairs["--gpu-memory-utilization"] == "0.85"
    assert pairs["--distributed-executor-backend"] == "ray"
    assert gpus_needed(options) == 8


def test_optional_flags_are_left_out():
    command = vllm_command("/models/x", 9000, VllmOptions(served_model_name="x"))
    assert "--max-model-len" not in command and "--distributed-executor-backend" not in command


def test_the_ray_backend_flag_is_there_exactly_once_whatever_the_command_had():
    plain = vllm_command("/m", 9000, VllmOptions(served_model_name="x"))
    with_mp = vllm_command("/m", 9000, VllmOptions(served_model_name="x", distributed_backend="mp"))
    for command in (plain, with_mp, (*plain, "--distributed-executor-backend=mp")):
        ray = with_ray_backend(command)
        assert ray == (*plain, "--distributed-executor-backend", "ray")
    assert with_ray_backend(with_ray_backend(plain)) == with_ray_backend(plain)


def test_it_tells_vllm_servers_from_other_engines():
    assert is_vllm_serve(vllm_command("m", 1, VllmOptions(served_model_name="m")))
    assert is_vllm_serve(("/opt/venv/bin/vllm", "serve", "m"))
    assert is_vllm_serve(("python", "-m", "vllm.entrypoints.openai.api_server", "--model", "m"))
    assert is_vllm_serve(("python", "-m", "chungus.testing.fake_vllm_ray", "serve", "m"))
    assert not is_vllm_serve(("vllm", "bench", "m"))
    assert not is_vllm_serve(("llama-server", "-m", "model.gguf"))
    assert not is_vllm_serve(("python", "-m", "chungus.testing.fake_engine"))
