"""The Slurm launcher against a real single-node Slurm, running llama-server as the job."""

import asyncio
import os
import subprocess
from pathlib import Path

from chungus.engines.llamacpp.server import (
    LlamaServerOptions,
    llama_server_binary,
    llama_server_command,
)
from chungus.engines.packaged import packaged_gguf
from chungus.fleet.launchers.base import LaunchSpec, LaunchState
from chungus.fleet.launchers.local import free_port
from chungus.fleet.launchers.slurm import SlurmLauncher, SlurmOptions, job_script, parse_fields
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
