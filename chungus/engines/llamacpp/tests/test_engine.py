"""The llama.cpp engine's launch spec: loopback on this host, a per-replica secret elsewhere."""

from chungus.engines import registry
from chungus.engines.base import DeploymentPlan

LLAMACPP = registry.by_name()["llamacpp"]


def spec(tmp_path, launcher):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    plan = DeploymentPlan("gemma", str(model), "llamacpp", 0, launcher=launcher)
    return LLAMACPP.launch_spec(plan, tmp_path, "gemma-0", 9000, ())


def flag(command, name):
    return command[command.index(name) + 1]


def test_a_local_llama_server_listens_on_loopback_only_and_has_no_secret(tmp_path):
    local = spec(tmp_path, "local")
    assert flag(local.command, "--host") == "127.0.0.1"
    assert local.api_key == "" and "LLAMA_API_KEY" not in local.env


def test_a_llama_server_on_slurm_or_ray_wants_a_secret_it_reads_from_its_environment(tmp_path):
    remote, again = spec(tmp_path, "slurm"), spec(tmp_path, "ray")
    assert flag(remote.command, "--host") == "0.0.0.0"
    assert remote.env["LLAMA_API_KEY"] == remote.api_key and len(remote.api_key) >= 32
    assert remote.api_key != again.api_key  # one per replica
    assert "--api-key" not in remote.command and remote.api_key not in " ".join(remote.command)
