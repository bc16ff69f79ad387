"""An engine's or a job's environment: the allow-list, the spec's own, never CHUNGUS's secrets."""

from chungus.lib.child_env import HUB_TOKEN, child_env

PARENT = {
    "PATH": "/usr/bin", "HOME": "/home/c", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
    "CUDA_HOME": "/usr/local/cuda", "NVIDIA_DRIVER_CAPABILITIES": "all", "HIP_PATH": "/opt/hip",
    "VIRTUAL_ENV": "/venv", "PYTHONPATH": "/src", "HF_HOME": "/hf", "OMP_NUM_THREADS": "4",
    "DATABASE_URL": "postgres://u:p@db/chungus", "REDIS_URL": "redis://:p@redis/0",
    "CHUNGUS_SECRET_KEY": "s3cret", "HF_TOKEN": "hf_token", "AWS_SECRET_ACCESS_KEY": "aws",
    "CHUNGUS_LOG_LEVEL": "debug", "SITE_LICENSE": "lic",
}  # fmt: skip


def test_it_passes_the_allow_list_and_nothing_else():
    env = child_env(PARENT, {})
    assert env == {k: PARENT[k] for k in (
        "PATH", "HOME", "LANG", "LC_ALL", "TZ", "CUDA_HOME", "NVIDIA_DRIVER_CAPABILITIES",
        "HIP_PATH", "VIRTUAL_ENV", "PYTHONPATH", "HF_HOME", "OMP_NUM_THREADS",
    )}  # fmt: skip


def test_the_spec_s_own_variables_are_added_and_win():
    env = child_env(PARENT, {"OLLAMA_HOST": "127.0.0.1:9", "OMP_NUM_THREADS": "1"})
    assert env["OLLAMA_HOST"] == "127.0.0.1:9" and env["OMP_NUM_THREADS"] == "1"


def test_the_hub_token_goes_only_to_a_spec_that_asks_for_it():
    assert HUB_TOKEN not in child_env(PARENT, {})
    assert child_env(PARENT, {}, [HUB_TOKEN])[HUB_TOKEN] == "hf_token"


def test_the_operator_can_name_more_variables_but_never_chungus_s_secrets():
    parent = {**PARENT, "CHUNGUS_ENGINE_ENV": "SITE_LICENSE, DATABASE_URL,CHUNGUS_SECRET_KEY"}
    env = child_env(parent, {}, ["REDIS_URL"])
    assert env["SITE_LICENSE"] == "lic"
    assert not {"DATABASE_URL", "REDIS_URL", "CHUNGUS_SECRET_KEY", "CHUNGUS_ENGINE_ENV"} & set(env)
