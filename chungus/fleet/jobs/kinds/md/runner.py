"""The MD job process: `python -m chungus.fleet.jobs.kinds.md.runner` in the job directory.

Reads spec.json (already validated), then prepares, minimises, equilibrates and runs
production, writing progress.json as it goes. Started again in the same directory it
resumes: a saved preparation is reused, a production checkpoint is continued. SIGTERM
during production checkpoints and exits RESUMABLE; before production it exits RESUMABLE at
once, as that work is redone. Never imports Django, so it starts fast on any node.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import openmm
from openmm import app, unit

from chungus.fleet.jobs.kinds.base import (
    ERROR_FILE,
    PREPARATION_FAILED,
    PROGRESS_FILE,
    RESUMABLE,
    SPEC_FILE,
    read_json,
)
from chungus.fleet.jobs.kinds.md import checkpoint, prepare, production
from chungus.fleet.jobs.kinds.md.files import FINAL_PDB
from chungus.fleet.jobs.kinds.md.spec import production_steps
from chungus.fleet.jobs.kinds.md.status import Status, fail, log

FAILED = 1
MINIMISE_TOLERANCE = 10.0  # kJ/mol/nm
MINIMISE_MAX_ITERATIONS = 1_000
T = TypeVar("T")


class StopRequest:
    """Set by SIGTERM (or SIGINT); the work checks it at safe points."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> StopRequest:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        return self

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def run_or_exit(self, phase: str, work: Callable[[], T]) -> T:
        """Run `work` (long native calls) in a thread while this one watches for a stop:
        Python runs signal handlers only in the main thread, and only between bytecodes."""
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = work()
            except BaseException as e:
                outcome["error"] = e

        worker = threading.Thread(target=target, name=phase, daemon=True)
        worker.start()
        while worker.is_alive():
            if self.requested:
                log(f"stopped while {phase}; that is redone when the job is resumed")
                os._exit(RESUMABLE)  # the worker is inside OpenMM; nothing of it is kept
            worker.join(0.1)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]


def choose_platform(requested: str, cuda_visible_devices: str, available: set[str]) -> str:
    """CUDA when a GPU was handed to this job and OpenMM has the platform; else CPU."""
    if requested == "reference":
        return "Reference"
    if requested in ("auto", "cuda") and cuda_visible_devices.strip() and "CUDA" in available:
        return "CUDA"
    return "CPU"


def make_simulation(prepared: prepare.Prepared, spec: dict[str, Any]) -> app.Simulation:
    available = {
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    }
    name = choose_platform(spec["platform"], os.environ.get("CUDA_VISIBLE_DEVICES", ""), available)
    if spec["platform"] == "cuda" and name != "CUDA":
        log("no GPU was given to this job (or OpenMM has no CUDA platform); running on the CPU")
    properties = {"Precision": "mixed"} if name == "CUDA" else {}
    try:
        return _simulation(prepared, spec, name, properties)
    except openmm.OpenMMException as e:
        if name != "CUDA":
            raise
        log(f"CUDA could not be used ({e}); running on the CPU")
        return _simulation(prepared, spec, "CPU", {})


def _simulation(
    prepared: prepare.Prepared, spec: dict[str, Any], platform: str, properties: dict[str, str]
) -> app.Simulation:
    integrator = openmm.LangevinMiddleIntegrator(
        spec["temperature_k"] * unit.kelvin,
        spec["friction_per_ps"] / unit.picosecond,
        spec["timestep_fs"] * unit.femtosecond,
    )
    if spec.get("seed"):  # a replica of an ensemble: its own thermostat noise
        integrator.setRandomNumberSeed(spec["seed"])
    return app.Simulation(
        prepared.topology,
        prepared.system,
        integrator,
        openmm.Platform.getPlatformByName(platform),
        properties,
    )


def steps_lost(
    workdir: Path, saved: checkpoint.Checkpoint | None, reported: int, every: int
) -> int:
    """Production steps the last attempt did after its last checkpoint (lost to a kill):
    the most of what it `reported` in progress.json and what its frames on disk show."""
    done = max(reported, checkpoint.frames_on_disk(workdir) * every)
    return max(0, done - (saved.step if saved else 0))


def run(workdir: Path, spec: dict[str, Any], stop: StopRequest) -> int:
    (workdir / ERROR_FILE).unlink(missing_ok=True)  # a failed attempt's, when retried
    previous = read_json(workdir / PROGRESS_FILE)
    if previous.get("phase") == "done" and (workdir / FINAL_PDB).is_file():
        log("already done")
        return 0
    total = production_steps(spec)
    status = Status.start(workdir, previous, total, spec["timestep_fs"])
    saved = checkpoint.load(workdir)
    lost = steps_lost(workdir, saved, int(previous.get("steps_done") or 0), spec["report_every"])
    status.fields["steps_recomputed"] += lost
    log(f"attempt {status.fields['attempt']}: {total} production steps asked")
    prepared = prepare.load(workdir)
    if prepared is None:
        saved = None
        status.update(phase="preparing")
        log("preparing the structure")
        prepared = stop.run_or_exit("preparing", lambda: prepare.prepare(workdir, spec))
    simulation = make_simulation(prepared, spec)
    platform = simulation.context.getPlatform().getName()
    status.update(atoms=prepared.topology.getNumAtoms(), platform=platform)
    log(f"{prepared.topology.getNumAtoms()} atoms on {platform}")
    if saved is not None:
        simulation.loadState(str(workdir / saved.state_file))
        append = checkpoint.rewind_outputs(workdir, saved)
        status.update(checkpoint_step=saved.step, steps_done=saved.step)
        log(f"resuming from step {saved.step}" + (f" ({lost} steps are redone)" if lost else ""))
    else:
        checkpoint.discard(workdir)
        simulation.context.setPositions(prepared.positions)
        settle(simulation, spec, status, stop)
        append = False
        status.update(checkpoint_step=checkpoint.save(workdir, simulation, 0).step)
    production.attach_reporters(workdir, simulation, spec["report_every"], append)
    return production.produce(workdir, simulation, spec, status, stop)


def settle(
    simulation: app.Simulation, spec: dict[str, Any], status: Status, stop: StopRequest
) -> None:
    """Minimise, then equilibrate; production then counts its steps from 0."""
    status.update(phase="minimising")
    log("minimising")
    stop.run_or_exit(
        "minimising",
        lambda: simulation.minimizeEnergy(
            tolerance=MINIMISE_TOLERANCE * unit.kilojoule_per_mole / unit.nanometer,
            maxIterations=MINIMISE_MAX_ITERATIONS,
        ),
    )
    steps = round(spec["equilibration_ps"] * 1000 / spec["timestep_fs"])
    status.update(phase="equilibrating")
    log(f"equilibrating for {spec['equilibration_ps']:g} ps ({steps} steps)")
    temperature = spec["temperature_k"] * unit.kelvin
    if spec.get("seed"):  # a replica of an ensemble: its own initial velocities
        simulation.context.setVelocitiesToTemperature(temperature, spec["seed"])
    else:
        simulation.context.setVelocitiesToTemperature(temperature)
    stop.run_or_exit("equilibrating", lambda: simulation.step(steps))
    simulation.currentStep = 0
    simulation.context.setTime(0)


def main() -> int:
    workdir = Path.cwd()
    stop = StopRequest().install()
    spec = read_json(workdir / SPEC_FILE)
    if not spec:
        fail(workdir, f"The job has no readable {SPEC_FILE}.")
        return FAILED
    try:
        return run(workdir, spec, stop)
    except prepare.PreparationError as e:
        fail(workdir, str(e))
        return PREPARATION_FAILED
    except Exception as e:  # whatever it was, the user reads why in error.json
        traceback.print_exc(file=sys.stdout)
        fail(workdir, f"The simulation failed: {e}")
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
