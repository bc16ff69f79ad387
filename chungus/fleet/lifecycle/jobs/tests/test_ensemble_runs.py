"""Ensembles run for real: a real CHUNGUS schedules the replicas (real OpenMM on the CPU
platform, villin in vacuum) on declared GPUs, one replica is killed mid-run and resumes from
its checkpoint, and the analysis step ends the ensemble; then the same ensemble's replicas as
real Slurm jobs, one preempted by a deployment that needs its GPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import httpx
import pytest

from chungus.fleet.lifecycle.tests.test_deployments import wait_state
from chungus.testing.jobs import check_trajectory, job, runners, wait_event, wait_job, wait_steps
from chungus.testing.processes import ChungusProcess, chungus_instance, one_simulated_gpu

STEPS, REPORT, CHECKPOINT = 5000, 50, 500  # 0.01 ns of 2 fs steps, 100 frames a replica
ENSEMBLE = ("--structure", "villin", "--ns", "0.01", "--solvent", "vacuum", "--platform", "cpu",
            "--report-every", str(REPORT), "--checkpoint-every", str(CHECKPOINT),
            "--equilibration-ps", "0.2", "--seed", "21")  # fmt: skip


def submit_ensemble(instance: ChungusProcess, *options: str) -> tuple[int, list[int]]:
    out = instance.cli("jobs", "submit", "ensemble", *ENSEMBLE, *options).stdout
    parent = int(out.split()[2])
    return parent, job(instance, parent)["spec"]["replica_ids"]


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    home = tmp_path_factory.mktemp("ensembles")
    instance = chungus_instance(
        home,
        CHUNGUS_INVENTORY=str(one_simulated_gpu(home, count=2)),
        CHUNGUS_RECONCILE_SECONDS="0.3",
    )
    instance.start("--no-default-model")
    yield instance
    instance.stop()


def test_four_replicas_succeed_with_one_killed_mid_run_and_resumed(local):
    parent, replicas = submit_ensemble(local, "--replicas", "4", "--gpus-per-replica", "1")
    victim = replicas[0]
    wait_job(local, victim, "running", 60)
    wait_steps(local, victim, 3 * CHECKPOINT + 100, 180)
    [runner] = runners(local.home / "jobs" / str(victim))
    runner.send_signal(signal.SIGKILL)  # no checkpoint on the way out: it is simply gone
    retried = wait_event(local, victim, "retried", 30)
    assert retried["exit_code"] in (-9, 137), retried

    # Partial results while the replicas run: the API analyses what they wrote so far.
    key = local.create_key("operator-key", "--owner", "operator")
    partial = httpx.get(f"{local.url}/api/jobs/{parent}/ensemble/",
                        headers={"Authorization": f"Bearer {key}"}, timeout=60)  # fmt: skip
    assert partial.status_code == 200, partial.text
    assert partial.json()["state"] == "queued"
    assert any(r["rmsd_nm"] for r in partial.json()["replicas"]), partial.json()["summary"]

    done = wait_job(local, parent, "succeeded", 600)
    assert done["progress"] == 1.0 and done["progress_summary"].startswith("Done: 4 replicas")
    killed = job(local, victim)
    assert killed["state"] == "succeeded" and killed["retries"] == 1 and killed["attempts"] == 2
    detail = killed["progress_detail"]
    assert detail["steps_done"] == STEPS and 0 < detail["steps_recomputed"] <= CHECKPOINT, detail
    check_trajectory(local.home / "jobs" / str(victim), STEPS, REPORT)
    seeds = {job(local, r)["spec"]["seed"] for r in replicas}
    assert seeds == {21, 22, 23, 24}

    analysis = json.loads((local.home / "jobs" / str(parent) / "analysis.json").read_text())
    assert [r["replica"] for r in analysis["replicas"]] == replicas
    assert all(len(r["rmsd_nm"]) == STEPS // REPORT for r in analysis["replicas"])
    summary = analysis["summary"]
    assert summary["analysed"] == 4 and summary["best_replica"] in replicas
    assert summary["lowest_rmsd_nm"] == min(min(r["rmsd_nm"]) for r in analysis["replicas"])
    best, lowest, q = summary["best_replica"], summary["lowest_rmsd_nm"], summary["mean_final_q"]
    print(f"\nensemble of 4: best replica {best} at {lowest:.3f} nm, mean final Q {q:.3f}")
    shown = local.cli("jobs", "show", str(parent)).stdout
    assert "Replicas:" in shown and "retried 1x" in shown


def test_a_failed_replica_is_reported_and_the_others_still_succeed(local):
    parent, replicas = submit_ensemble(
        local, "--replicas", "2", "--max-retries", "0", "--ns", "0.004"
    )
    victim = replicas[1]
    wait_job(local, victim, "running", 60)
    wait_steps(local, victim, 100, 120)
    [runner] = runners(local.home / "jobs" / str(victim))
    runner.send_signal(signal.SIGKILL)
    wait_job(local, victim, "failed", 30)
    done = wait_job(local, parent, "succeeded", 300)
    analysis = json.loads((local.home / "jobs" / str(parent) / "analysis.json").read_text())
    assert analysis["summary"]["failed"] == [victim], analysis["summary"]
    assert analysis["summary"]["analysed"] == 1
    assert done["progress_summary"].startswith("Done: 1 replica, best"), done["progress_summary"]
    assert job(local, replicas[0])["state"] == "succeeded"


def test_on_slurm_a_deployment_preempts_a_replica_that_resumes(tmp_path, slurm):
    instance = chungus_instance(tmp_path / "home", CHUNGUS_RECONCILE_SECONDS="0.3", **slurm.env)
    instance.start("--no-default-model")
    try:
        # Long enough (20,000 steps) that both still run when the deployment asks.
        parent, replicas = submit_ensemble(
            instance, "--replicas", "2", "--gpus-per-replica", "1", "--launcher", "slurm",
            "--ns", "0.04",
        )  # fmt: skip
        for replica in replicas:
            wait_job(instance, replica, "running", 90)
        for replica in replicas:
            wait_steps(instance, replica, 2 * CHECKPOINT + 100, 180)
        # Both of the cluster's GPUs are the replicas': Slurm queues the deployment.
        instance.cli("deploy", "big", "--source", "packaged", "--launcher", "slurm", "--gpus", "1")
        victim = _first_preempted(instance, replicas)
        event = wait_event(instance, victim, "preempted", 60)
        assert event["by"] == "deployment big" and event["exit_code"] == 75, event
        print(f"\nSlurm replica preemption handover: {event['handover_seconds']:.2f} s")
        wait_state(instance, "big", "ready", 120)
        instance.cli("deployments", "stop", "big")
        wait_state(instance, "big", "stopped", 30)
        done = wait_job(instance, parent, "succeeded", 600)
        resumed = job(instance, victim)
        assert resumed["state"] == "succeeded" and resumed["preemptions"] == 1
        assert resumed["progress_detail"]["steps_recomputed"] <= CHECKPOINT
        check_trajectory(instance.home / "jobs" / str(victim), 4 * STEPS, REPORT)
        assert done["progress_summary"].startswith("Done: 2 replicas")
    finally:
        instance.stop()
    env = {**os.environ, **slurm.env}
    queue = subprocess.run(["squeue", "-h"], env=env, capture_output=True, text=True).stdout
    assert queue.strip() == "", f"a Slurm job was left behind: {queue}"


def _first_preempted(instance: ChungusProcess, replicas: list[int]) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for replica in replicas:
            if job(instance, replica)["state"] in ("preempting", "queued"):
                return replica
        time.sleep(0.1)
    raise AssertionError(f"no replica was preempted: {[job(instance, r) for r in replicas]}")
