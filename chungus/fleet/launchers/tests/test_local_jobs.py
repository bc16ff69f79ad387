"""The local launcher runs jobs to completion: exit codes, SIGTERM with a grace, adoption."""

import asyncio
import dataclasses
import time

from chungus.fleet.launchers.base import LaunchState
from chungus.fleet.launchers.local import LocalLauncher
from chungus.testing.job_script import job_spec as script_job


def job_spec(tmp_path, mode="polite", ticks=1, code=0, gpus=()):
    spec = script_job(tmp_path, mode, ticks, code, gpus)
    return dataclasses.replace(spec, cwd=str(tmp_path), log_path=str(tmp_path / "job.log"))


async def until_exited(launcher, handle, seconds=20):
    deadline = time.monotonic() + seconds
    while (status := await launcher.poll(handle)).state is not LaunchState.EXITED:
        assert status.state is LaunchState.RUNNING, status
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    return status


async def test_a_job_runs_to_its_end_and_reports_its_exit_code(tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    handle = await launcher.launch(job_spec(tmp_path, ticks=4, code=3, gpus=(1,)))
    assert (await launcher.poll(handle)).state is LaunchState.RUNNING
    status = await until_exited(launcher, handle)
    assert status.exit_code == 3
    assert "gpus '1'" in (tmp_path / "job.log").read_text()


async def test_a_job_without_gpus_sees_none(tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    status = await until_exited(launcher, await launcher.launch(job_spec(tmp_path)))
    assert status.exit_code == 0 and "gpus ''" in (tmp_path / "job.log").read_text()


async def test_terminate_sends_sigterm_and_the_job_checkpoints(tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    handle = await launcher.launch(job_spec(tmp_path, ticks=1000))
    await asyncio.sleep(0.3)
    await launcher.terminate(handle, grace=10)
    status = await launcher.poll(handle)
    assert status.state is LaunchState.EXITED and status.exit_code == 75
    assert (tmp_path / "checkpointed").read_text() == "yes"


async def test_a_job_that_ignores_sigterm_is_killed_after_its_grace(tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    handle = await launcher.launch(job_spec(tmp_path, mode="stubborn", ticks=1000))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await launcher.terminate(handle, grace=0.5)
    assert 0.4 < time.monotonic() - started < 5
    assert (await launcher.poll(handle)).exit_code == -9


async def test_another_process_adopts_a_running_job_by_its_reference(tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    spec = job_spec(tmp_path, ticks=1000)
    handle = await launcher.launch(spec)
    await asyncio.sleep(0.3)  # its SIGTERM handler is set
    reference = launcher.reference(handle)
    later = LocalLauncher(tmp_path / "logs")  # as a restarted CHUNGUS would
    adopted = await later.adopt(spec, reference)
    assert adopted is not None
    assert (await later.poll(adopted)).state is LaunchState.RUNNING
    await later.terminate(adopted, grace=5)
    await handle.process.wait()
    assert (tmp_path / "checkpointed").exists()
    assert (await later.poll(adopted)).state is LaunchState.EXITED
    assert await later.adopt(spec, reference) is None  # it has ended
    assert await later.adopt(spec, {**reference, "started": 1.0}) is None  # a reused pid
