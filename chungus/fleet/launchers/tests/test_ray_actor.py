"""What a Ray actor gives the engine or job it runs: the allow-listed environment of its node."""

import json
import os
import stat
import subprocess
import sys

from chungus.fleet.launchers.ray_actor import EngineActor, JobActor

PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"
SECRETS = {"DATABASE_URL": "postgres://db", "REDIS_URL": "redis://r", "CHUNGUS_SECRET_KEY": "k"}


def test_an_engine_and_a_job_in_an_actor_see_no_chungus_secret(tmp_path, monkeypatch):
    # Ray's workers inherit the environment of whoever started Ray: here, CHUNGUS's.
    for name, value in {**SECRETS, "HF_TOKEN": "hf"}.items():
        monkeypatch.setenv(name, value)
    command = [sys.executable, "-c", PRINT_ENV]
    engine = EngineActor(command, {"VLLM_API_KEY": "r"}, str(tmp_path / "engine.log"), ["HF_TOKEN"])
    engine.start()
    assert engine.process is not None and engine.process.wait(30) == 0
    job = JobActor(command, {"CHUNGUS_JOB_ID": "7"}, str(tmp_path / "job.log"), str(tmp_path))
    assert job.process is not None and job.process.wait(30) == 0
    seen = json.loads((tmp_path / "engine.log").read_text())
    assert not set(SECRETS) & set(seen) and seen["PATH"] == os.environ["PATH"]
    assert seen["VLLM_API_KEY"] == "r" and seen["HF_TOKEN"] == "hf"  # the spec asked for it
    seen = json.loads((tmp_path / "job.log").read_text())
    assert not {*SECRETS, "HF_TOKEN"} & set(seen) and seen["CHUNGUS_JOB_ID"] == "7"
    assert stat.S_IMODE((tmp_path / "job.log").stat().st_mode) == 0o600


IN_PROCESS = """
import json, sys
from chungus.fleet.launchers.ray_actor import InProcessEngineActor
actor = InProcessEngineActor(
    [sys.executable, "-m", "envdump"], {"VLLM_API_KEY": "r"}, sys.argv[1], []
)
sys.exit(actor.serve())
"""


def test_an_engine_run_inside_the_actor_s_own_process_keeps_only_the_allow_list(tmp_path):
    (tmp_path / "envdump.py").write_text(PRINT_ENV)
    env = {**os.environ, **SECRETS, "RAY_ADDRESS": "10.0.0.1:6379"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), os.getcwd()])
    log = tmp_path / "engine.log"
    subprocess.run([sys.executable, "-c", IN_PROCESS, str(log)], env=env, check=True, timeout=60)
    seen = json.loads(log.read_text())
    assert not set(SECRETS) & set(seen) and seen["VLLM_API_KEY"] == "r"
    assert seen["RAY_ADDRESS"] == "10.0.0.1:6379"  # vLLM joins the Ray cluster from there
