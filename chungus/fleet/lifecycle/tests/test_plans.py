"""A deployment's launch spec: its log named by the deployment's id, never by its name."""

from chungus.engines.base import DeploymentPlan
from chungus.fleet.lifecycle.plans import launch_spec
from chungus.lib.child_env import HUB_TOKEN


def test_a_replica_logs_to_a_file_named_by_the_deployment_id(tmp_path):
    plan = DeploymentPlan("org/model:q4", "Qwen/Qwen2.5-0.5B-Instruct", "vllm", 1)
    spec = launch_spec(plan, tmp_path, 1, (0,), deployment_id=7)
    assert spec.log_path == str(tmp_path / "logs" / "deployment-7-1.log")
    assert spec.name == "org/model:q4-1"  # a label: Slurm's job name, Ray's actor name


def test_only_an_engine_that_downloads_from_the_hub_is_given_the_token(tmp_path):
    from_hub = DeploymentPlan("chat", "Qwen/Qwen2.5-0.5B-Instruct", "vllm", 1)
    assert launch_spec(from_hub, tmp_path, 0, (0,), 1).pass_env == (HUB_TOKEN,)
    local = DeploymentPlan("chat", str(tmp_path), "vllm", 1)
    assert launch_spec(local, tmp_path, 0, (0,), 1).pass_env == ()
