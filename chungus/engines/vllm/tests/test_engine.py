"""The vLLM engine's launch spec: loopback on this host, a per-replica secret elsewhere."""

from chungus.engines import registry
from chungus.engines.base import DeploymentPlan

VLLM = registry.by_name()["vllm"]


def spec(tmp_path, launcher):
    plan = DeploymentPlan("qwen", "Qwen/Qwen2.5-0.5B", "vllm", 1, launcher=launcher)
    return VLLM.launch_spec(plan, tmp_path, "qwen-0", 9000, (0,))


def pairs(command):
    return dict(zip(command[3::2], command[4::2], strict=False))


def test_a_local_vllm_listens_on_loopback_only_and_has_no_secret(tmp_path):
    local = spec(tmp_path, "local")
    assert pairs(local.command)["--host"] == "127.0.0.1"
    assert local.api_key == "" and "VLLM_API_KEY" not in local.env


def test_a_vllm_on_slurm_or_ray_wants_a_secret_it_reads_from_its_environment(tmp_path):
    remote, again = spec(tmp_path, "slurm"), spec(tmp_path, "ray")
    assert pairs(remote.command)["--host"] == "0.0.0.0"
    assert remote.env["VLLM_API_KEY"] == remote.api_key and len(remote.api_key) >= 32
    assert remote.api_key != again.api_key
    assert "--api-key" not in remote.command and remote.api_key not in " ".join(remote.command)
    assert remote.api_key not in repr(remote)
