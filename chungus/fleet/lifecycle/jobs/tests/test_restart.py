"""`kill -9` of CHUNGUS while a job runs: the job is adopted or resumed from its checkpoint,
never lost and never run twice at once (a real CHUNGUS and a real OpenMM job on the CPU)."""

import os
import signal
import threading
import time

from chungus.testing.jobs import check_trajectory, runners, submit_md, wait_job, wait_steps
from chungus.testing.processes import chungus_instance

REPORT, CHECKPOINT = 500, 1000


def test_a_job_survives_a_kill_9_of_chungus_and_never_runs_twice(tmp_path):
    instance = chungus_instance(tmp_path / "home", CHUNGUS_RECONCILE_SECONDS="0.3")
    instance.start("--no-default-model")
    job_id = submit_md(
        instance, "--structure", "villin", "--ns", "0.016", "--solvent", "vacuum",
        "--report-every", str(REPORT), "--checkpoint-every", str(CHECKPOINT),
        "--equilibration-ps", "1", "--cpu-cores", "1",
    )  # fmt: skip
    job_dir = instance.home / "jobs" / str(job_id)
    most, watching = [0], threading.Event()

    def watch():  # the largest number of runners seen at once in the job's directory
        while not watching.is_set():
            most[0] = max(most[0], len(runners(job_dir)))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        wait_job(instance, job_id, "running", 30)
        wait_steps(instance, job_id, CHECKPOINT + 300, 120)
        os.kill(instance.process.pid, signal.SIGKILL)
        instance.process.wait()
        instance.start("--no-default-model")
        done = wait_job(instance, job_id, "succeeded", 240)
    finally:
        watching.set()
        watcher.join()
        instance.stop()
    detail = done["progress_detail"]
    assert detail["steps_done"] == detail["steps_total"] == 8000, detail
    assert detail["steps_recomputed"] <= CHECKPOINT, detail
    events = [e["event"] for e in done["events"]]
    assert "adopted" in events or done["attempts"] >= 2, done["events"]
    assert most[0] == 1, f"{most[0]} runners of the job at once"
    check_trajectory(job_dir, 8000, REPORT)
