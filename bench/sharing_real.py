"""The sharing benchmark's small real version: one GPU pool, inference beside an MD ensemble.

A real `chungus serve` with two declared GPUs runs one llama.cpp deployment of the packaged
Gemma 3 270M (one GPU, unloaded after --idle-timeout seconds without requests) and an MD
ensemble (villin in vacuum, real OpenMM on the CPU platform, one GPU a replica). Bursts of
chat traffic arrive every --gap seconds: the first request of each burst finds the model
unloaded, its cold start needs a GPU, and the replicas hold both, so one is preempted. Then
the same figures as bench/sharing.py's simulation, from the real run:

- GPU utilisation: busy GPU-seconds (the union of each GPU's holds in the GPU timeline,
  deployments and jobs) over both GPUs' seconds, from the ensemble's start to its end
- batch GPU-seconds completed (the replicas' GPU-seconds less what was recomputed after a
  preemption) and GPU-seconds lost to recomputation
- inference start delay caused by batch work: per cold start that preempted a replica, the
  time from the placement decision to the GPU being free (the replica checkpointed and
  ended); p50/p99/max. And each burst's first answer, wall, with its cold start in it.
- preemptions

    .venv/bin/python bench/sharing_real.py [--replicas 4] [--ns 0.05] [--bursts 6] [--gap 45]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chungus.settings")

from chungus.fleet.lifecycle.tests.test_deployments import wait_state  # noqa: E402
from chungus.lib.looplag import percentile  # noqa: E402
from chungus.testing.jobs import job, wait_job  # noqa: E402
from chungus.testing.processes import (  # noqa: E402
    ChungusProcess,
    chungus_instance,
    one_simulated_gpu,
)

MODEL = "chat"


def busy_seconds(holds: list[tuple[int, int, int | None]], start: float, end: float) -> float:
    """GPU-seconds held in [start, end): the union of each GPU's hold intervals (pure)."""
    total = 0.0
    for gpu in {h[0] for h in holds}:
        spans = sorted(
            (max(float(s), start), min(float(e) if e is not None else end, end))
            for g, s, e in holds
            if g == gpu
        )
        reach = start
        for begin, finish in spans:
            begin = max(begin, reach)
            if finish > begin:
                total += finish - begin
                reach = finish
    return total


def holds(instance: ChungusProcess) -> list[tuple[int, int, int | None]]:
    with contextlib.closing(sqlite3.connect(instance.home / "chungus.sqlite3")) as db:
        return list(db.execute("select gpu, started, ended from jobs_gpuhold"))


def chat(instance: ChungusProcess, key: str) -> float:
    """One chat completion's wall seconds (it waits through a cold start)."""
    began = time.monotonic()
    answer = httpx.post(
        f"{instance.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": MODEL, "messages": [{"role": "user", "content": "Say hi."}],
              "max_tokens": 8},
        timeout=300,
    )  # fmt: skip
    answer.raise_for_status()
    return time.monotonic() - began


def run(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    inventory = one_simulated_gpu(home, count=2)
    instance = chungus_instance(
        home, CHUNGUS_INVENTORY=str(inventory), CHUNGUS_RECONCILE_SECONDS=str(args.reconcile),
        CHUNGUS_REFRESH_SECONDS="1.0", CHUNGUS_LOG_FLUSH_SECONDS="1.0",
    )  # fmt: skip
    instance.start("--no-default-model")
    try:
        instance.cli("deploy", MODEL, "--source", "packaged", "--gpus", "1", "--memory-mb", "600",
                     "--idle-timeout", str(args.idle_timeout))  # fmt: skip
        wait_state(instance, MODEL, "ready", 180)
        key = instance.create_key("bench")
        chat(instance, key)
        out = instance.cli(
            "jobs", "submit", "ensemble", "--structure", "villin", "--solvent", "vacuum",
            "--platform", "cpu", "--ns", str(args.ns), "--replicas", str(args.replicas),
            "--gpus-per-replica", "1", "--checkpoint-every", str(args.checkpoint),
            "--equilibration-ps", "1", "--seed", "1",
        ).stdout  # fmt: skip
        parent = int(out.split()[2])
        replicas: list[int] = job(instance, parent)["spec"]["replica_ids"]
        start = time.time()
        firsts: list[float] = []
        for burst in range(args.bursts):
            time.sleep(args.gap)  # long enough for the model to idle out
            firsts.append(chat(instance, key))
            rest = [chat(instance, key) for _ in range(args.burst_size - 1)]
            print(f"  burst {burst + 1}: first answer {firsts[-1]:.1f} s (a cold start), then "
                  f"{statistics.median(rest):.2f} s median; ensemble "
                  f"{100 * job(instance, parent)['progress']:.0f}%", flush=True)  # fmt: skip
        wait_job(instance, parent, "succeeded", 3600)
        end = time.time()
        rows = [job(instance, r) for r in replicas]
        return {"start": start, "end": end, "holds": holds(instance), "rows": rows,
                "firsts": firsts}  # fmt: skip
    finally:
        instance.stop()


def report(args: argparse.Namespace, got: dict[str, Any]) -> None:
    span = got["end"] - got["start"]
    busy = busy_seconds(got["holds"], got["start"], got["end"])
    spent = lost = 0.0
    handovers: list[float] = []
    preemptions = 0
    for row in got["rows"]:
        detail = row["progress_detail"] or {}
        done, redone = detail.get("steps_done", 0), detail.get("steps_recomputed", 0)
        spent += row["gpu_seconds"]
        lost += row["gpu_seconds"] * redone / max(1, done + redone)
        preemptions += row["preemptions"]
        handovers += [
            float(e["handover_seconds"])
            for e in row["events"] or []
            if e["event"] == "preempted" and str(e.get("by", "")).startswith("deployment")
        ]
    print(f"\nReal run: {args.replicas} replicas of {args.ns} ns on 2 declared GPUs beside "
          f"'{MODEL}' (idle timeout {args.idle_timeout} s), {args.bursts} bursts of "
          f"{args.burst_size} chats {args.gap:g} s apart; {span:.0f} s from the ensemble's "
          "submission to its end")  # fmt: skip
    print("| measure | value |")
    print("|---|---:|")
    print(f"| GPU utilisation (busy GPU-s / total) | {busy / (2 * span):.2f} |")
    print(f"| batch GPU-seconds completed (useful) | {spent - lost:.0f} |")
    print(f"| GPU-seconds lost to recomputation | {lost:.1f} |")
    print(f"| preemptions | {preemptions} |")
    if handovers:
        print(f"| inference start delay caused by batch, p50 / p99 / max s | "
              f"{percentile(handovers, 0.5):.2f} / {percentile(handovers, 0.99):.2f} / "
              f"{max(handovers):.2f} |")  # fmt: skip
    print(f"| first answer of a burst (cold start included), median / max s | "
          f"{statistics.median(got['firsts']):.1f} / {max(got['firsts']):.1f} |")  # fmt: skip
    ok = bool(handovers) and percentile(handovers, 0.99) <= 5.0
    print(f"- {'PASS' if ok else 'FAIL'} inference start delay caused by batch p99 <= 5 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--ns", type=float, default=0.05, help="per replica")
    parser.add_argument("--checkpoint", type=int, default=1000, help="steps between checkpoints")
    parser.add_argument("--bursts", type=int, default=6)
    parser.add_argument("--burst-size", type=int, default=5, help="chats per burst")
    parser.add_argument("--gap", type=float, default=45.0, help="seconds between bursts")
    parser.add_argument("--idle-timeout", type=int, default=20, help="the model's, seconds")
    parser.add_argument("--reconcile", type=float, default=0.5, help="CHUNGUS_RECONCILE_SECONDS")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="chungus-bench-sharing-"))
    try:
        report(args, run(args, home))
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
