"""The Slurm launcher runs jobs on a real single-node Slurm: exit codes, SIGTERM with a grace
(the exec'd script is the batch step, so it gets the signal), GPUs, adoption."""

import asyncio
import os
import subprocess
import time
from pathlib import Path

from chungus.engines.base import LaunchSpec
from chungus.fleet.launchers.base import LaunchState
from chungus.fleet.launchers.slurm import (
    SlurmHandle,
    SlurmLauncher,
    SlurmOptions,
    ended_code,
    exit_code,
    job_script,
    parse_sacct,
)
from chungus.testing.job_script import job_spec


def squeue(slurm):
    env = {**os.environ, **slurm.env}
    return subprocess.run(
        ["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True
    ).stdout.split()


async def until(launcher, handle, state, seconds=20):
    deadline = time.monotonic() + seconds
    while (status := await launcher.poll(handle)).state is not state:
        assert time.monotonic() < deadline, f"never reached {state}; last {status}"
        await asyncio.sleep(0.05)
    return status


def test_a_jobs_script_runs_in_its_directory_and_appends_to_its_log():
    spec = LaunchSpec(
        name="job-7", command=("python", "md.py"), env={"CHUNGUS_CPU_CORES": "4"},
        gpus=(0,), cwd="/jobs/7", log_path="/jobs/7/job.log",
    )  # fmt: skip
    lines = job_script(spec, SlurmOptions(), Path(spec.log_path)).splitlines()
    for line in ("#SBATCH --chdir=/jobs/7", "#SBATCH --output=/jobs/7/job.log",
                 "#SBATCH --open-mode=append", "#SBATCH --no-requeue", "#SBATCH --gres=gpu:1",
                 "#SBATCH --cpus-per-task=4", "exec python md.py"):  # fmt: skip
        assert line in lines
    assert "export CUDA_VISIBLE_DEVICES=" not in lines, "Slurm sets it for the GPUs it gave"


def test_a_job_without_gpus_is_given_none():
    spec = LaunchSpec(name="job-8", command=("true",), cwd="/jobs/8", log_path="/jobs/8/log")
    lines = job_script(spec, SlurmOptions(), Path(spec.log_path)).splitlines()
    assert "export CUDA_VISIBLE_DEVICES=" in lines
    assert not any("--gres" in line for line in lines)


def test_slurm_exit_codes_read_as_process_return_codes():
    assert exit_code("75:0") == 75 and exit_code("0:9") == -9 and exit_code("0:0") == 0
    assert exit_code("") is None
    assert ended_code("COMPLETED", "0:0") == 0
    assert ended_code("CANCELLED", "0:0") is None, "cancelled while queued: it never ran"
    assert parse_sacct("FAILED|75:0\n") == ("FAILED", 75)
    assert parse_sacct("CANCELLED by 0|0:15\n") == ("CANCELLED", -15)
    assert parse_sacct("") is None


async def test_a_job_runs_to_its_end_on_the_gpu_slurm_gave_it(slurm, tmp_path):
    launcher = SlurmLauncher(tmp_path / "logs", SlurmOptions(env=slurm.env))
    spec = job_spec(tmp_path, ticks=20, gpus=(0,))
    handle = await launcher.launch(spec)
    running = await until(launcher, handle, LaunchState.RUNNING)
    assert running.host, "poll says where it runs"
    status = await until(launcher, handle, LaunchState.EXITED)
    assert status.exit_code == 0
    log = Path(spec.log_path).read_text()
    assert f"started in {spec.cwd} gpus " in log and "step 19" in log
    assert "gpus '0'" in log or "gpus '1'" in log, "CUDA_VISIBLE_DEVICES from Slurm"
    await launcher.terminate(handle, grace=5)  # of an ended job: nothing to do
    assert (await launcher.poll(handle)).exit_code == 0


async def test_a_jobs_own_exit_code_is_reported(slurm, tmp_path):
    launcher = SlurmLauncher(tmp_path / "logs", SlurmOptions(env=slurm.env))
    spec = job_spec(tmp_path, code=3)
    status = await until(launcher, await launcher.launch(spec), LaunchState.EXITED)
    assert status.exit_code == 3 and "FAILED" in status.detail
    assert "gpus ''" in Path(spec.log_path).read_text(), "no GPU asked, none seen"


async def test_terminate_sends_sigterm_to_the_job_which_checkpoints_and_resumes(slurm, tmp_path):
    launcher = SlurmLauncher(tmp_path / "logs", SlurmOptions(env=slurm.env))
    spec = job_spec(tmp_path, ticks=1000)
    handle = await launcher.launch(spec)
    await until(launcher, handle, LaunchState.RUNNING)
    await asyncio.sleep(0.5)  # its SIGTERM handler is installed
    started = time.monotonic()
    await launcher.terminate(handle, grace=10)
    assert time.monotonic() - started < 5, "it ended on SIGTERM, not at the grace"
    status = await launcher.poll(handle)
    assert status.state is LaunchState.EXITED and status.exit_code == 75
    assert (Path(spec.cwd) / "checkpointed").read_text() == "yes"
    assert handle.job_id not in squeue(slurm)
    resumed = await launcher.launch(job_spec(tmp_path, ticks=1))  # same directory, same log
    assert (await until(launcher, resumed, LaunchState.EXITED)).exit_code == 0
    assert Path(spec.log_path).read_text().count("started in") == 2, "the log is appended to"


async def test_a_job_that_ignores_sigterm_is_killed_after_its_grace(slurm, tmp_path):
    launcher = SlurmLauncher(tmp_path / "logs", SlurmOptions(env=slurm.env))
    handle = await launcher.launch(job_spec(tmp_path, mode="stubborn", ticks=1000))
    await until(launcher, handle, LaunchState.RUNNING)
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await launcher.terminate(handle, grace=1)
    assert 0.9 < time.monotonic() - started < 8, "killed after the grace, not Slurm's KillWait"
    assert (await launcher.poll(handle)).exit_code == -9
    assert handle.job_id not in squeue(slurm)


async def test_a_queued_job_is_placing_and_cancelled_at_once(slurm, tmp_path):
    options = SlurmOptions(extra=("--begin=now+3600",), env=slurm.env)
    launcher = SlurmLauncher(tmp_path / "logs", options)
    handle = await launcher.launch(job_spec(tmp_path))
    status = await launcher.poll(handle)
    assert status.state is LaunchState.PLACING and "PENDING" in status.detail
    await launcher.terminate(handle, grace=10)
    status = await launcher.poll(handle)
    assert status.state is LaunchState.EXITED and status.exit_code is None
    assert handle.job_id not in squeue(slurm)


async def test_another_process_adopts_a_running_job_by_its_reference(slurm, tmp_path):
    launcher = SlurmLauncher(tmp_path / "logs", SlurmOptions(env=slurm.env))
    spec = job_spec(tmp_path, ticks=1000)
    reference = launcher.reference(await launcher.launch(spec))
    later = SlurmLauncher(tmp_path / "logs", SlurmOptions(env=slurm.env))  # a restarted CHUNGUS
    adopted = await later.adopt(spec, reference)
    assert adopted is not None
    await until(later, adopted, LaunchState.RUNNING)
    await asyncio.sleep(0.5)
    await later.terminate(adopted, grace=10)
    assert (await later.poll(adopted)).exit_code == 75
    assert await later.adopt(spec, reference) is None, "it has ended"
    assert await later.adopt(spec, {"job_id": "999999"}) is None


async def test_a_job_the_controller_forgot_has_exited_with_an_unknown_code(slurm, tmp_path):
    launcher = SlurmLauncher(tmp_path / "logs", SlurmOptions(env=slurm.env))
    spec = job_spec(tmp_path)
    forgotten = SlurmHandle(spec, "999999", Path(spec.log_path))  # aged out, no slurmdbd
    status = await launcher.poll(forgotten)
    assert status.state is LaunchState.EXITED and status.exit_code is None
    assert "exit code unknown" in status.detail
