"""The Slurm launcher against a real single-node Slurm, running llama-server as the job."""

import asyncio
import dataclasses
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chungus.engines.llamacpp.server import (
    LlamaServerOptions,
    llama_server_binary,
    llama_server_command,
)
from chungus.engines.packaged import packaged_gguf
from chungus.fleet.launchers.base import LaunchSpec, LaunchState
from chungus.fleet.launchers.local import free_port
from chungus.fleet.launchers.slurm import (
    SlurmLauncher,
    SlurmOptions,
    job_script,
    parse_fields,
    script_env,
    submit_env,
)
from chungus.fleet.lifecycle.supervisor import Supervisor
from chungus.testing.launching import chat_through_chungus, wait_for_launch


def test_the_job_script_asks_for_gpus_partition_account_and_time():
    spec = LaunchSpec(
        name="m",
        command=("llama-server", "--port", "9000"),
        port=9000,
        gpus=(0, 1),
        env={"A": "b c"},
    )
    options = SlurmOptions(
        partition="gpu", account="lab", time_limit="1-00:00:00", extra=("--qos=fast",)
    )
    script = job_script(spec, options, Path("/logs/m.log"))
    for line in ("#SBATCH --gres=gpu:2", "#SBATCH --partition=gpu", "#SBATCH --account=lab",
                 "#SBATCH --time=1-00:00:00", "#SBATCH --qos=fast", "#SBATCH --output=/logs/m.log",
                 "export A='b c'", "exec llama-server --port 9000"):  # fmt: skip
        assert line in script.splitlines()


PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"


def test_scontrol_lines_are_read_into_fields():
    fields = parse_fields("JobId=7 JobState=RUNNING Reason=None BatchHost=node1 NodeList=node1")
    assert fields["JobState"] == "RUNNING" and fields["BatchHost"] == "node1"


def spec(models_home, gpus=(0,)):
    port = free_port()
    command = llama_server_command(
        llama_server_binary(), packaged_gguf(models_home), port, LlamaServerOptions(alias="gemma")
    )
    return LaunchSpec(name=f"gemma-{port}", command=command, port=port, gpus=gpus)


def squeue(slurm):
    env = {**os.environ, **slurm.env}
    return subprocess.run(
        ["squeue", "-h", "-o", "%i %T"], env=env, capture_output=True, text=True
    ).stdout.strip()


async def test_an_engine_runs_as_a_slurm_job_serves_a_chat_through_chungus_and_leaves_nothing(
    slurm, models_home, tmp_path
):
    launcher = SlurmLauncher(tmp_path / "logs", SlurmOptions(env=slurm.env))
    handle = await launcher.launch(spec(models_home))
    try:
        status = await wait_for_launch(launcher, handle, LaunchState.READY)
        assert status.address == f"http://127.0.0.1:{handle.spec.port}"
        answer = chat_through_chungus(tmp_path / "home", status.address)
        assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] > 0
    finally:
        await launcher.terminate(handle)
        await launcher.terminate(handle)
    assert (await launcher.poll(handle)).state is LaunchState.STOPPED
    assert handle.job_id not in squeue(slurm), "the Slurm job outlived terminate"


async def test_the_job_gets_the_gpu_slurm_allocated(slurm, tmp_path, caplog):
    launcher = SlurmLauncher(tmp_path / "logs", SlurmOptions(env=slurm.env))
    probe = LaunchSpec(
        name="gpu-probe",
        command=("sh", "-c", "echo CUDA=$CUDA_VISIBLE_DEVICES"),
        port=free_port(),
        gpus=(0,),
    )
    handle = await launcher.launch(probe)
    status = await wait_for_launch(launcher, handle, LaunchState.EXITED, seconds=30)
    assert "COMPLETED" in status.detail and "CUDA=0" in status.detail
    await launcher.terminate(handle)  # of an ended job: nothing to cancel, nothing to say
    assert "could not cancel" not in caplog.text


async def test_an_engine_that_cannot_start_is_reported_with_its_log(slurm, tmp_path):
    launcher = SlurmLauncher(tmp_path / "logs", SlurmOptions(env=slurm.env))
    broken = LaunchSpec(
        name="broken",
        command=(str(llama_server_binary()), "--model", "/nonexistent.gguf"),
        port=free_port(),
    )
    handle = await launcher.launch(broken)
    status = await wait_for_launch(launcher, handle, LaunchState.EXITED, seconds=30)
    assert "FAILED" in status.detail and "nonexistent" in status.detail
    await launcher.terminate(handle)


async def test_a_queued_job_is_placing_and_the_ready_timeout_waits_for_it(
    slurm, models_home, tmp_path
):
    launcher = SlurmLauncher(tmp_path / "logs", SlurmOptions(env=slurm.env))
    blockers = [
        await launcher.launch(
            LaunchSpec(name=f"blocker-{i}", command=("sleep", "120"), port=free_port(), gpus=(i,))
        )
        for i in range(slurm.gpus)
    ]
    ready: list[str] = []

    async def on_ready(address):
        ready.append(address)

    supervisor = Supervisor(launcher, spec(models_home), on_ready, ready_timeout=8)
    task = asyncio.create_task(supervisor.run())
    try:
        await asyncio.sleep(10)  # queued for longer than the ready timeout
        assert supervisor.status.state == "placing", supervisor.status
        assert "PENDING" in supervisor.status.detail and supervisor.status.restarts == 0
        await launcher.terminate(blockers[0])
        await asyncio.wait_for(supervisor.ready.wait(), 60)
        assert ready and supervisor.status.restarts == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for blocker in blockers:
            await launcher.terminate(blocker)


def test_a_name_with_a_newline_never_becomes_a_line_of_the_script():
    evil = LaunchSpec(name="small-0\nrm -rf /", command=("llama-server",), port=9000)
    with pytest.raises(ValueError, match="control character"):
        job_script(evil, SlurmOptions(), Path("/logs/deployment-1-0.log"))
    for options in (SlurmOptions(partition="gpu\nrm -rf /"), SlurmOptions(extra=("--a\nb",))):
        with pytest.raises(ValueError, match="control character"):
            job_script(LaunchSpec(name="m", command=("true",), port=9000), options, Path("/l"))
    with pytest.raises(ValueError, match="not an environment variable name"):
        job_script(LaunchSpec(name="m", command=("true",), env={"A;rm -rf /": "1"}), SlurmOptions(),
                   Path("/l"))  # fmt: skip


def test_every_value_in_the_script_is_quoted_for_what_reads_it(tmp_path):
    spec = LaunchSpec(
        name='my "model"', port=9000,
        command=("printf", "%s|", "a b", "$(touch pwned)", "; touch pwned", "it's"),
        env={"V": "1\ntouch pwned", "W": "`touch pwned`"},
    )  # fmt: skip
    script = job_script(spec, SlurmOptions(), Path("/logs/100%/my log"))
    assert '#SBATCH --job-name="chungus-my \\"model\\""' in script.splitlines()
    assert '#SBATCH --output="/logs/100%%/my log"' in script.splitlines()
    (tmp_path / "job.sh").write_text(script)
    ran = subprocess.run(["bash", "job.sh"], cwd=tmp_path, capture_output=True, text=True)
    assert ran.stdout == "a b|$(touch pwned)|; touch pwned|it's|"
    assert not (tmp_path / "pwned").exists()


def test_the_script_exports_the_allow_list_and_no_chungus_secret():
    parent = {"PATH": "/venv/bin:/usr/bin", "HOME": "/home/c", "CUDA_VISIBLE_DEVICES": "3",
              "DATABASE_URL": "postgres://db", "REDIS_URL": "redis://r", "CHUNGUS_SECRET_KEY": "k",
              "HF_TOKEN": "hf"}  # fmt: skip
    spec = LaunchSpec(name="m", command=("vllm", "serve"), port=9000, env={"VLLM_API_KEY": "r"})
    lines = job_script(spec, SlurmOptions(), Path("/l"), script_env(spec, parent)).splitlines()
    assert "#SBATCH --export=ALL" in lines  # of the allow-listed environment sbatch runs in
    assert {
        "export PATH=/venv/bin:/usr/bin",
        "export HOME=/home/c",
        "export VLLM_API_KEY=r",
    } <= set(lines)
    assert "unset CHUNGUS_SECRET_KEY DATABASE_URL REDIS_URL" in lines  # a login profile's too
    exports = [line for line in lines if line.startswith("export ")]
    for name in ("DATABASE_URL", "REDIS_URL", "CHUNGUS_SECRET_KEY", "HF_TOKEN", "CUDA_VISIBLE"):
        assert not any(name in line for line in exports), name  # Slurm sets the GPUs it gives
    submitting = submit_env({**parent, "SBATCH_PARTITION": "gpu", "SLURM_CONF": "/etc/s.conf"})
    assert not {"DATABASE_URL", "REDIS_URL", "CHUNGUS_SECRET_KEY", "HF_TOKEN"} & set(submitting)
    assert {"PATH", "HOME", "SBATCH_PARTITION", "SLURM_CONF"} <= set(submitting)
    hub = dataclasses.replace(spec, pass_env=("HF_TOKEN",))
    assert "export HF_TOKEN=hf" in job_script(
        hub, SlurmOptions(), Path("/l"), script_env(hub, parent)
    )


async def test_a_slurm_job_sees_no_chungus_secret_and_writes_where_its_quoted_path_says(
    slurm, tmp_path, monkeypatch
):
    for name in ("DATABASE_URL", "REDIS_URL", "CHUNGUS_SECRET_KEY"):
        monkeypatch.setenv(name, "secret")
    launcher = SlurmLauncher(tmp_path / "logs", SlurmOptions(env=slurm.env))
    log = tmp_path / "a dir" / "job.log"
    probe = LaunchSpec(
        name='job "9"', command=(sys.executable, "-c", PRINT_ENV), cwd=str(tmp_path),
        log_path=str(log),
    )  # fmt: skip
    handle = await launcher.launch(probe)
    status = await wait_for_launch(launcher, handle, LaunchState.EXITED, seconds=30)
    assert status.exit_code == 0, status.detail
    seen = json.loads(log.read_text().splitlines()[-1])
    assert not {"DATABASE_URL", "REDIS_URL", "CHUNGUS_SECRET_KEY"} & set(seen)
    assert seen["PATH"] == os.environ["PATH"] and stat.S_IMODE(log.stat().st_mode) == 0o600
