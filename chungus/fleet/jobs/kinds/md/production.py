"""Production: steps in short chunks so SIGTERM is honoured within about a second.

Reporters (trajectory and energies) are attached here only, so equilibration writes no
frames; a frame falls on every multiple of report_every counted from production's step 0.
Chunks never cross a checkpoint step, so periodic checkpoints land on exact multiples.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from openmm import app

from chungus.fleet.jobs.kinds.base import RESUMABLE
from chungus.fleet.jobs.kinds.md import checkpoint
from chungus.fleet.jobs.kinds.md.files import ENERGIES_FILE, FINAL_PDB, TRAJECTORY_FILE
from chungus.fleet.jobs.kinds.md.spec import production_steps
from chungus.fleet.jobs.kinds.md.status import Status, log

CHUNK_SECONDS = 0.3  # wall time a chunk aims at: the longest a SIGTERM waits
FIRST_CHUNK = 10
LOG_EVERY_FRACTION = 0.1  # a log line at each tenth of the run
MAX_CHUNK = 100_000
STATUS_EVERY_SECONDS = 1.0
RATE_SMOOTHING = 0.3  # weight of the newest chunk in the measured speed


class Stop(Protocol):
    requested: bool  # set when the process was asked to stop


def attach_reporters(workdir: Path, simulation: app.Simulation, every: int, append: bool) -> None:
    periodic = simulation.topology.getPeriodicBoxVectors() is not None
    simulation.reporters = [
        app.DCDReporter(str(workdir / TRAJECTORY_FILE), every, append=append),
        app.StateDataReporter(
            str(workdir / ENERGIES_FILE),
            every,
            step=True,
            time=True,
            potentialEnergy=True,
            kineticEnergy=True,
            temperature=True,
            volume=periodic,  # without a box there is no volume to report
            speed=True,
            append=append,
        ),
    ]


def next_chunk(steps_per_second: float) -> int:
    return max(1, min(MAX_CHUNK, int(steps_per_second * CHUNK_SECONDS)))


def produce(
    workdir: Path, simulation: app.Simulation, spec: dict[str, Any], status: Status, stop: Stop
) -> int:
    """Run production to exactly steps_total; 0 when done, RESUMABLE when stopped."""
    total, every = production_steps(spec), spec["checkpoint_every"]
    step = simulation.currentStep
    chunk, rate, last_status = FIRST_CHUNK, 0.0, 0.0
    logged = int(step / total / LOG_EVERY_FRACTION)
    while step < total:
        if stop.requested:
            saved = checkpoint.save(workdir, simulation, step)
            status.update(checkpoint_step=saved.step)
            log(f"stopped at step {step}; checkpoint saved, exiting to be resumed")
            return RESUMABLE
        steps = min(chunk, total - step, (step // every + 1) * every - step)
        started = time.monotonic()
        simulation.step(steps)
        elapsed = max(time.monotonic() - started, 1e-6)
        step = simulation.currentStep
        measured = steps / elapsed
        rate = measured if rate == 0 else RATE_SMOOTHING * measured + (1 - RATE_SMOOTHING) * rate
        chunk = next_chunk(rate)
        if step % every == 0 and step < total:
            status.update(checkpoint_step=checkpoint.save(workdir, simulation, step).step)
        if time.monotonic() - last_status >= STATUS_EVERY_SECONDS or step == total:
            status.production(step, spec["timestep_fs"], rate)
            last_status = time.monotonic()
        if int(step / total / LOG_EVERY_FRACTION) > logged and step < total:
            logged = int(step / total / LOG_EVERY_FRACTION)
            speed = status.fields["ns_per_day"] or 0
            log(f"production {step / total:.0%}: step {step}, {speed:.1f} ns/day")
    status.update(checkpoint_step=checkpoint.save(workdir, simulation, step).step)
    write_final(workdir, simulation)
    status.update(phase="done", steps_done=step, eta_seconds=0)
    log(f"done: {step} production steps")
    return 0


def write_final(workdir: Path, simulation: app.Simulation) -> None:
    periodic = simulation.topology.getPeriodicBoxVectors() is not None
    state = simulation.context.getState(positions=True, enforcePeriodicBox=periodic)
    if periodic:
        simulation.topology.setPeriodicBoxVectors(state.getPeriodicBoxVectors())
    tmp = workdir / f".{FINAL_PDB}.tmp"
    with tmp.open("w") as f:
        app.PDBFile.writeFile(simulation.topology, state.getPositions(), f, keepIds=True)
    tmp.replace(workdir / FINAL_PDB)
