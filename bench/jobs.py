"""Measure what the job system costs an MD job, and how fast a job hands its GPU over.

1. ns/day of the MD kind run through CHUNGUS (`chungus jobs submit md`, the job started
   by CHUNGUS's local launcher) against the same OpenMM runner started directly, both
   on the same single core (`taskset -c CORE`; CHUNGUS itself shares that core with its
   job, so its own CPU counts against it). Interleaved repeats; medians.
2. Preemption handover: a running MD job on a declared GPU is preempted by deploying an
   always-warm model on that GPU, N times; the time from the placement decision to the
   job's process having ended (its checkpoint written, the GPU free), and on to the
   deployment being ready. Median and max.

    .venv/bin/python bench/jobs.py [--ns 0.02] [--repeats 3] [--preemptions 10] [--core 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chungus.settings")

from chungus.fleet.lifecycle.tests.test_deployments import wait_state  # noqa: E402
from chungus.testing.jobs import job, submit_md, wait_job, wait_steps  # noqa: E402
from chungus.testing.processes import (  # noqa: E402
    ChungusProcess,
    chungus_instance,
    one_simulated_gpu,
)

RUNNER = (sys.executable, "-m", "chungus.fleet.jobs.kinds.md.runner")


def md_options(ns: str, report: int, checkpoint: int) -> list[str]:
    return ["--structure", "villin", "--ns", ns, "--solvent", "vacuum", "--report-every",
            str(report), "--checkpoint-every", str(checkpoint), "--equilibration-ps", "1",
            "--cpu-cores", "1"]  # fmt: skip


def direct(tmp: Path, spec: dict[str, Any], core: int) -> tuple[float, float]:
    """Run the MD runner itself on `core`: (ns/day, wall seconds)."""
    workdir = Path(tempfile.mkdtemp(dir=tmp, prefix="direct-"))
    (workdir / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "OPENMM_CPU_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    started = time.monotonic()
    with (workdir / "job.log").open("wb") as log:
        subprocess.run(["taskset", "-c", str(core), *RUNNER], cwd=workdir, env=env,
                       stdout=log, stderr=subprocess.STDOUT, check=True)  # fmt: skip
    wall = time.monotonic() - started
    progress = json.loads((workdir / "progress.json").read_text())
    return float(progress["ns_per_day"]), wall


def own_cpu(pid: int) -> float:
    """CPU seconds a process has used itself (not its children)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def through_chungus(
    instance: ChungusProcess, options: list[str]
) -> tuple[float, float, dict[str, Any], float]:
    """Submit the same job to a CHUNGUS pinned to the core: (ns/day, wall seconds, spec,
    CPU seconds CHUNGUS itself used meanwhile)."""
    assert instance.process is not None
    cpu, started = own_cpu(instance.process.pid), time.monotonic()
    job_id = submit_md(instance, *options)
    row = wait_job(instance, job_id, "succeeded", 1800)
    wall = time.monotonic() - started
    used = own_cpu(instance.process.pid) - cpu
    return float(row["progress_detail"]["ns_per_day"]), wall, row["spec"], used


def overhead(args: argparse.Namespace, tmp: Path) -> None:
    options = md_options(args.ns, 500, 10_000)
    # Production settings, not the tests' fast refresh (chungus_instance's defaults).
    instance = chungus_instance(
        tmp / "overhead", CHUNGUS_REFRESH_SECONDS="1.0", CHUNGUS_LOG_FLUSH_SECONDS="1.0"
    )
    instance.start("--no-default-model")
    # Move CHUNGUS (and so every job it starts) onto the measured core.
    subprocess.run(["taskset", "-a", "-p", "-c", str(args.core), str(instance.process.pid)],
                   check=True, capture_output=True)  # fmt: skip
    rows: list[tuple[str, float, float]] = []
    cpu: list[float] = []
    try:
        spec: dict[str, Any] | None = None
        for round_ in range(args.repeats):
            order = (
                ["chungus", "direct"] if round_ % 2 == 0 or spec is None else ["direct", "chungus"]
            )
            for target in order:
                if target == "chungus":
                    speed, wall, spec, used = through_chungus(instance, options)
                    cpu.append(used / wall)
                else:
                    assert spec is not None
                    speed, wall = direct(tmp, {**spec, "cpu_cores": 1}, args.core)
                rows.append((target, speed, wall))
                print(f"  round {round_ + 1} {target:8s} {speed:7.2f} ns/day  {wall:6.1f} s wall",
                      flush=True)  # fmt: skip
    finally:
        instance.stop()
    medians = {
        t: (statistics.median(r[1] for r in rows if r[0] == t),
            statistics.median(r[2] for r in rows if r[0] == t))
        for t in ("direct", "chungus")
    }  # fmt: skip
    (d_speed, d_wall), (c_speed, c_wall) = medians["direct"], medians["chungus"]
    print(f"\nMD ns/day, villin vacuum, {args.ns} ns, 1 thread on core {args.core}, "
          f"median of {args.repeats}:")  # fmt: skip
    print("| target | ns/day | x direct | wall s (submit to succeeded) |")
    print("|---|---:|---:|---:|")
    print(f"| direct runner | {d_speed:.2f} | 1.000 | {d_wall:.1f} |")
    print(f"| through CHUNGUS | {c_speed:.2f} | {c_speed / d_speed:.3f} | {c_wall:.1f} |")
    print(f"job-system overhead on ns/day: {100 * (1 - c_speed / d_speed):+.2f} %")
    print(f"CPU CHUNGUS itself used while its job ran (the CLI submit not counted): "
          f"median {100 * statistics.median(cpu):.2f} % of one core")  # fmt: skip


def handover(args: argparse.Namespace, tmp: Path) -> None:
    home = tmp / "handover"
    home.mkdir()
    inventory = one_simulated_gpu(home)
    instance = chungus_instance(home, CHUNGUS_INVENTORY=str(inventory),
                                CHUNGUS_RECONCILE_SECONDS="0.3")  # fmt: skip
    instance.start("--no-default-model")
    frees: list[float] = []
    readies: list[float] = []
    try:
        job_id = submit_md(instance, *md_options("10", 1000, 1000), "--gpus", "1")
        for n in range(args.preemptions):
            wait_job(instance, job_id, "running", 120)
            done = (job(instance, job_id)["progress_detail"] or {}).get("steps_done", 0)
            wait_steps(instance, job_id, done + 1200, 300)
            decided = time.monotonic()
            instance.cli("deploy", "warm", "--source", "packaged", "--gpus", "1",
                         "--memory-mb", "600", "--always-warm")  # fmt: skip
            row = wait_job(instance, job_id, "queued", 60)
            event = [e for e in row["events"] if e["event"] == "preempted"][-1]
            wait_state(instance, "warm", "ready", 120)
            frees.append(float(event["handover_seconds"]))
            readies.append(time.monotonic() - decided)
            print(
                f"  preemption {n + 1}: GPU free {frees[-1]:.2f} s after the decision "
                f"(exit {event['exit_code']}, checkpoint step {event['checkpoint_step']}); "
                f"deployment ready {readies[-1]:.1f} s after the deploy command",
                flush=True,
            )
            instance.cli("deployments", "stop", "warm")
            wait_state(instance, "warm", "stopped", 60)
        instance.cli("jobs", "cancel", str(job_id))
    finally:
        instance.stop()
    print(f"\nPreemption handover over {len(frees)} preemptions (1,000-step checkpoints):")
    print("| measure | median s | max s |")
    print("|---|---:|---:|")
    print(f"| placement decision to GPU free | {statistics.median(frees):.2f} | {max(frees):.2f} |")
    print(f"| deploy command to deployment ready | {statistics.median(readies):.1f} | "
          f"{max(readies):.1f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ns", default="0.02", help="ns simulated per overhead run")
    parser.add_argument("--repeats", type=int, default=3, help="overhead runs per target")
    parser.add_argument("--preemptions", type=int, default=10)
    parser.add_argument("--core", type=int, default=1, help="the core both MD targets run on")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-handover", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="chungus-bench-jobs-"))
    try:
        if not args.skip_overhead:
            overhead(args, tmp)
        if not args.skip_handover:
            handover(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
