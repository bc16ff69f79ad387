"""The Ray launcher runs jobs in detached actors on a real local Ray: exit codes, GPUs,
SIGTERM with a grace, and adoption by a CHUNGUS that did not launch them."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from chungus.engines.base import LaunchSpec
from chungus.fleet.launchers.base import LaunchState
from chungus.fleet.launchers.ray_launcher import RayLauncher, RayOptions, job_cpus
from chungus.testing.job_script import job_spec as script_job


def job_spec(tmp_path, mode="polite", ticks=1, code=0, gpus=()):
    return script_job(tmp_path, mode, ticks, code, gpus, cpu_cores="0.25")


def launcher_for(tmp_path):
    return RayLauncher(tmp_path / "logs", RayOptions(address=None))


def actors(ray):
    return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}


async def until(launcher, handle, state, seconds=30):
    deadline = time.monotonic() + seconds
    while (status := await launcher.poll(handle)).state is not state:
        assert time.monotonic() < deadline, f"never reached {state}; last {status}"
        await asyncio.sleep(0.05)
    return status


def test_a_job_asks_ray_for_its_cpu_cores():
    spec = LaunchSpec(name="j", command=("true",), env={"CHUNGUS_CPU_CORES": "4"})
    assert job_cpus(spec, 1.0) == 4.0
    assert job_cpus(LaunchSpec(name="j", command=("true",)), 0.5) == 0.5
    assert job_cpus(LaunchSpec(name="j", command=("true",), env={"CHUNGUS_CPU_CORES": "x"}), 1) == 1


async def test_a_job_runs_to_its_end_on_the_gpu_ray_gave_it_and_leaves_no_actor(
    ray_cluster, tmp_path
):
    launcher = launcher_for(tmp_path)
    spec = job_spec(tmp_path, ticks=10, gpus=(0,))
    handle = await launcher.launch(spec)
    running = await until(launcher, handle, LaunchState.RUNNING)
    assert running.host == "127.0.0.1"
    status = await until(launcher, handle, LaunchState.EXITED)
    assert status.exit_code == 0
    log = Path(spec.log_path).read_text()
    assert f"started in {spec.cwd} gpus " in log and "step 9" in log
    assert "gpus '0'" in log or "gpus '1'" in log
    assert handle.name not in actors(ray_cluster), "its actor no longer holds the GPU"
    assert launcher.reference(handle) == {"actor": handle.name, "namespace": "chungus"}


async def test_a_jobs_own_exit_code_is_reported_and_without_gpus_it_sees_none(
    ray_cluster, tmp_path
):
    launcher = launcher_for(tmp_path)
    spec = job_spec(tmp_path, code=3)
    status = await until(launcher, await launcher.launch(spec), LaunchState.EXITED)
    assert status.exit_code == 3
    assert "gpus ''" in Path(spec.log_path).read_text()


async def test_terminate_sends_sigterm_and_the_job_checkpoints(ray_cluster, tmp_path):
    launcher = launcher_for(tmp_path)
    spec = job_spec(tmp_path, ticks=1000)
    handle = await launcher.launch(spec)
    await until(launcher, handle, LaunchState.RUNNING)
    await asyncio.sleep(0.3)  # its SIGTERM handler is installed
    await launcher.terminate(handle, grace=10)
    await launcher.terminate(handle, grace=10)
    status = await launcher.poll(handle)
    assert status.state is LaunchState.EXITED and status.exit_code == 75
    assert (Path(spec.cwd) / "checkpointed").read_text() == "yes"
    assert handle.name not in actors(ray_cluster)


async def test_a_job_that_ignores_sigterm_is_killed_after_its_grace(ray_cluster, tmp_path):
    launcher = launcher_for(tmp_path)
    handle = await launcher.launch(job_spec(tmp_path, mode="stubborn", ticks=1000))
    await until(launcher, handle, LaunchState.RUNNING)
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await launcher.terminate(handle, grace=0.5)
    assert 0.4 < time.monotonic() - started < 5
    assert (await launcher.poll(handle)).exit_code == -9


async def test_a_job_waiting_for_gpus_is_placing_and_stops_at_once(ray_cluster, tmp_path):
    launcher = launcher_for(tmp_path)
    handle = await launcher.launch(job_spec(tmp_path, gpus=(0, 1, 2)))  # Ray has two
    status = await launcher.poll(handle)
    assert status.state is LaunchState.PLACING
    assert status.detail.startswith("waiting for 3 GPUs in the Ray cluster")
    await launcher.terminate(handle, grace=10)
    status = await launcher.poll(handle)
    assert status.state is LaunchState.EXITED and status.exit_code is None
    assert handle.name not in actors(ray_cluster)


DRIVER = """
import asyncio, json, sys, time
from pathlib import Path
import ray
from chungus.engines.base import LaunchSpec
from chungus.fleet.launchers.base import LaunchState
from chungus.fleet.launchers.ray_launcher import RayLauncher, RayOptions

async def main():
    launcher = RayLauncher(Path("logs"), RayOptions(address=sys.argv[1]))
    handle = await launcher.launch(LaunchSpec(**json.loads(sys.argv[2])))
    while (await launcher.poll(handle)).state is not LaunchState.RUNNING:
        time.sleep(0.05)
    print(json.dumps(launcher.reference(handle)))

asyncio.run(main())
"""


async def test_a_job_outlives_the_chungus_that_launched_it_and_is_adopted(ray_cluster, tmp_path):
    spec = job_spec(tmp_path, ticks=1000)
    fields = {"name": spec.name, "command": spec.command, "env": spec.env, "cwd": spec.cwd,
              "log_path": spec.log_path}  # fmt: skip
    address = ray_cluster.get_runtime_context().gcs_address
    driver = subprocess.run(
        [sys.executable, "-c", DRIVER, address, json.dumps(fields)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()},
    )  # fmt: skip
    assert driver.returncode == 0, driver.stderr[-2000:]
    reference = json.loads(driver.stdout.strip().splitlines()[-1])
    later = launcher_for(tmp_path)  # the CHUNGUS after the one that ended
    adopted = await later.adopt(spec, reference)
    assert adopted is not None, "the job still runs although its driver has ended"
    assert (await later.poll(adopted)).state is LaunchState.RUNNING
    await later.terminate(adopted, grace=10)
    assert (await later.poll(adopted)).exit_code == 75
    assert await later.adopt(spec, reference) is None, "it has ended"
