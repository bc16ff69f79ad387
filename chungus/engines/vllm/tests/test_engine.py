"""The vLLM engine's launch spec: loopback on this host, a per-replica secret elsewhere."""

import importlib
import os
from pathlib import Path

from chungus.engines import registry
from chungus.engines.base import DeploymentPlan
from chungus.engines.vllm.engine import CHUNGUS_ROOT, guard_env
from chungus.engines.vllm.guard import BearerGuard

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
    assert "--middleware" not in local.command and local.env == {}


def test_a_vllm_on_slurm_or_ray_wants_a_secret_it_reads_from_its_environment(tmp_path):
    remote, again = spec(tmp_path, "slurm"), spec(tmp_path, "ray")
    assert pairs(remote.command)["--host"] == "0.0.0.0"
    assert remote.env["VLLM_API_KEY"] == remote.api_key and len(remote.api_key) >= 32
    assert remote.api_key != again.api_key
    assert "--api-key" not in remote.command and remote.api_key not in " ".join(remote.command)
    assert remote.api_key not in repr(remote)


def test_a_vllm_on_slurm_or_ray_runs_behind_the_guard_on_every_path(tmp_path):
    for launcher in ("slurm", "ray"):
        remote = spec(tmp_path, launcher)
        assert remote.command.count("--middleware") == 1
        module, _, name = pairs(remote.command)["--middleware"].rpartition(".")
        assert getattr(importlib.import_module(module), name) is BearerGuard  # as vLLM loads it


def test_a_vllm_of_another_python_finds_the_guard_in_chungus_own_tree(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/site/lib")
    remote = spec(tmp_path, "slurm")
    first, rest = remote.env["PYTHONPATH"].split(os.pathsep, 1)
    assert (Path(first) / "chungus" / "engines" / "vllm" / "guard.py").is_file()
    assert rest == "/site/lib"  # what CHUNGUS runs with still follows


def test_the_guard_path_is_left_alone_where_it_is_there_or_would_shadow_vllm():
    root = str(CHUNGUS_ROOT)
    assert guard_env("", CHUNGUS_ROOT) == {"PYTHONPATH": root}
    assert guard_env(f"/a{os.pathsep}{root}", CHUNGUS_ROOT) == {}
    venv = Path("/opt/chungus/lib/python3.11/site-packages")
    assert guard_env("", venv) == {} and guard_env("", Path("/usr/lib/python3/dist-packages")) == {}
