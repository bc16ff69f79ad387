"""A running MD job gives its GPU to a deployment within seconds and resumes from its
checkpoint afterwards, ending with exactly the asked steps (a real CHUNGUS, a real OpenMM
job on the CPU platform, a declared GPU; then the same on a real single-node Slurm)."""

import os
import subprocess

import pytest

from chungus.fleet.lifecycle.tests.test_deployments import wait_state
from chungus.testing.jobs import (
    check_trajectory,
    job,
    submit_md,
    wait_event,
    wait_job,
    wait_steps,
)
from chungus.testing.processes import chungus_instance, one_simulated_gpu

NS, REPORT, CHECKPOINT = "0.02", 500, 1000  # 10,000 steps of 2 fs
MD = ("--structure", "villin", "--ns", NS, "--solvent", "vacuum", "--report-every", str(REPORT),
      "--checkpoint-every", str(CHECKPOINT), "--equilibration-ps", "1")  # fmt: skip


@pytest.fixture(scope="module")
def one_gpu(tmp_path_factory):
    home = tmp_path_factory.mktemp("preempt")
    inventory = one_simulated_gpu(home)
    instance = chungus_instance(
        home, CHUNGUS_INVENTORY=str(inventory), CHUNGUS_RECONCILE_SECONDS="0.3"
    )
    instance.start("--no-default-model")
    yield instance
    instance.stop()


def test_a_deployment_preempts_a_running_job_which_resumes_when_it_stops(one_gpu):
    job_id = submit_md(one_gpu, *MD, "--gpus", "1", "--cpu-cores", "1")
    wait_job(one_gpu, job_id, "running", 30)
    wait_steps(one_gpu, job_id, 2 * CHECKPOINT + 100, 120)
    one_gpu.cli("deploy", "warm", "--source", "packaged", "--gpus", "1", "--memory-mb", "600",
                "--always-warm")  # fmt: skip
    queued = wait_job(one_gpu, job_id, "queued", 40)
    assert "preempted by deployment warm" in queued["reason"], queued["reason"]
    preempted = [e for e in queued["events"] if e["event"] == "preempted"][-1]
    print(f"\npreemption handover: {preempted['handover_seconds']:.2f} s "
          f"(checkpoint at step {preempted['checkpoint_step']})")  # fmt: skip
    assert preempted["exit_code"] == 75, preempted  # it checkpointed and exited, not killed
    wait_state(one_gpu, "warm", "ready", 60)
    row = wait_job(one_gpu, job_id, "queued", 5)
    assert row["reason"].startswith("preempted by deployment warm: GPU freed in "), row["reason"]
    assert " | queued: waiting for a GPU: " in row["reason"], row["reason"]
    one_gpu.cli("deployments", "stop", "warm")
    wait_state(one_gpu, "warm", "stopped", 30)
    done = wait_job(one_gpu, job_id, "succeeded", 240)
    detail = done["progress_detail"]
    assert detail["steps_done"] == detail["steps_total"] == 10_000, detail
    assert detail["steps_recomputed"] <= CHECKPOINT, detail
    assert done["attempts"] == 2 and done["preemptions"] == 1
    assert done["gpu_seconds"] > 0
    check_trajectory(one_gpu.home / "jobs" / str(job_id), 10_000, REPORT)
    assert "resumed" in [e["event"] for e in done["events"]]


def test_a_job_asking_more_gpus_than_exist_is_refused(one_gpu):
    refused = one_gpu.cli("jobs", "submit", "md", *MD, "--gpus", "2", check=False)
    assert refused.returncode == 2 and "GPU" in refused.stderr + refused.stdout


def test_on_slurm_a_deployment_waiting_for_gpus_preempts_a_job_that_then_resumes(tmp_path, slurm):
    instance = chungus_instance(tmp_path / "home", CHUNGUS_RECONCILE_SECONDS="0.3", **slurm.env)
    instance.start("--no-default-model")
    try:
        job_id = submit_md(instance, *MD, "--gpus", "1", "--launcher", "slurm")
        wait_job(instance, job_id, "running", 60)
        wait_steps(instance, job_id, 2 * CHECKPOINT + 100, 120)
        # Both of the cluster's GPUs: Slurm queues the deployment for want of resources.
        instance.cli("deploy", "big", "--source", "packaged", "--launcher", "slurm", "--gpus", "2")
        preempted = wait_event(instance, job_id, "preempted", 60)
        assert preempted["by"] == "deployment big" and preempted["exit_code"] == 75, preempted
        print(f"\nSlurm preemption handover: {preempted['handover_seconds']:.2f} s")
        wait_state(instance, "big", "ready", 120)
        instance.cli("deployments", "stop", "big")
        wait_state(instance, "big", "stopped", 30)
        done = wait_job(instance, job_id, "succeeded", 300)
        assert done["progress_detail"]["steps_done"] == 10_000, done["progress_detail"]
        assert done["progress_detail"]["steps_recomputed"] <= CHECKPOINT
        check_trajectory(instance.home / "jobs" / str(job_id), 10_000, REPORT)
        assert done["preemptions"] == 1, done["events"]  # never preempted again while queued
    finally:
        instance.stop()
    env = {**os.environ, **slurm.env}
    queue = subprocess.run(["squeue", "-h"], env=env, capture_output=True, text=True).stdout
    assert queue.strip() == "", f"a Slurm job was left behind: {queue}"
    assert job(instance, job_id)["state"] == "succeeded"
