"""The MD spec: what a user may ask, checked and completed with defaults (pure; no OpenMM).

Every refusal is a SpecError naming the parameter at fault. Uploaded structures are parsed
by kind.py (that needs OpenMM); this module only decides names, types and ranges.
"""

from __future__ import annotations

import math
from typing import Any

from chungus.fleet.jobs.kinds.base import SpecError
from chungus.fleet.jobs.kinds.md import structures

FORCEFIELDS = ("amber14", "charmm36")
SOLVENTS = ("implicit", "explicit", "vacuum")
PLATFORMS = ("auto", "cpu", "cuda", "reference")

# name: (default, low, high, low_inclusive); numbers, so ints and floats are both accepted
NUMBERS: dict[str, tuple[float, float, float, bool]] = {
    "ns": (0.1, 0.0, 1000.0, False),
    "timestep_fs": (2.0, 0.5, 5.0, True),
    "temperature_k": (300.0, 1.0, 1000.0, True),
    "friction_per_ps": (1.0, 0.0, 100.0, False),
    "padding_nm": (1.0, 0.5, 5.0, True),
    "ionic_strength_molar": (0.15, 0.0, 2.0, True),
    "pressure_bar": (1.0, 0.0, 10000.0, False),
    "ph": (7.0, 0.0, 14.0, True),
    "equilibration_ps": (10.0, 0.0, 10000.0, True),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "forcefield": FORCEFIELDS,
    "solvent": SOLVENTS,
    "platform": PLATFORMS,
}
DEFAULT_CHECKPOINT_EVERY = 10_000
TARGET_FRAMES = 100
MIN_REPORT_EVERY = 100
MAX_CPU_CORES = 1024
INTEGERS = ("report_every", "checkpoint_every", "cpu_cores", "seed")
MAX_SEED = 2**31 - 1  # OpenMM takes a C int; 0 would mean "pick one at random"
KEYS = frozenset({"structure", "structure_file", *NUMBERS, *CHOICES, *INTEGERS})


def production_steps(spec: dict[str, Any]) -> int:
    """Steps of production asked for: ns of simulated time at the chosen timestep."""
    return round(spec["ns"] * 1e6 / spec["timestep_fs"])


def default_report_every(steps_total: int) -> int:
    """About TARGET_FRAMES frames a run, but never a frame more often than MIN_REPORT_EVERY."""
    return max(MIN_REPORT_EVERY, round(steps_total / TARGET_FRAMES))


def complete(spec: dict[str, Any], uploaded_suffix: str | None) -> dict[str, Any]:
    """The spec with every key filled in; `uploaded_suffix` is ".pdb"/".cif" for an upload.

    The structure comes from exactly one place: a packaged name or an uploaded file."""
    if not isinstance(spec, dict):
        raise SpecError("the spec must be a JSON object")
    unknown = sorted(set(spec) - KEYS)
    if unknown:
        raise SpecError(f"unknown parameter {unknown[0]!r}", param=unknown[0])
    done: dict[str, Any] = {**_structure(spec, uploaded_suffix)}
    for name, (default, low, high, low_inclusive) in NUMBERS.items():
        done[name] = _number(name, spec.get(name, default), low, high, low_inclusive)
    for name, allowed in CHOICES.items():
        done[name] = _choice(name, spec.get(name, allowed[0]), allowed)
    steps_total = production_steps(done)
    if steps_total < 1:
        raise SpecError("ns is shorter than one timestep", param="ns")
    report_every = _integer("report_every", spec.get("report_every"), 1)
    done["report_every"] = report_every or default_report_every(steps_total)
    if done["report_every"] > steps_total:
        raise SpecError(
            f"report_every is more than the {steps_total} steps of the run: no frame would be "
            "recorded",
            param="report_every",
        )
    checkpoint_every = _integer("checkpoint_every", spec.get("checkpoint_every"), 1)
    done["checkpoint_every"] = checkpoint_every or DEFAULT_CHECKPOINT_EVERY
    cpu_cores = _integer("cpu_cores", spec.get("cpu_cores"), 1, MAX_CPU_CORES)
    if cpu_cores is not None:
        done["cpu_cores"] = cpu_cores
    seed = _integer("seed", spec.get("seed"), 1, MAX_SEED)
    if seed is not None:  # initial velocities and the thermostat's noise (ensemble replicas)
        done["seed"] = seed
    return done


def _structure(spec: dict[str, Any], uploaded_suffix: str | None) -> dict[str, Any]:
    name = spec.get("structure")
    if uploaded_suffix is None and spec.get("structure_file") is not None:
        raise SpecError("send the structure file as an upload", param="structure_file")
    if name is not None and uploaded_suffix is not None:
        raise SpecError(
            "give either a packaged structure or an uploaded file, not both", param="structure"
        )
    if uploaded_suffix is not None:
        return {"structure": None, "structure_file": f"input/structure{uploaded_suffix}"}
    known = ", ".join(structures.names())
    if name is None:
        raise SpecError(f"choose a structure ({known}) or upload a .pdb or .cif file", "structure")
    if not isinstance(name, str) or structures.find(name) is None:
        raise SpecError(f"unknown structure {name!r}; known structures: {known}", "structure")
    return {"structure": name, "structure_file": None}


def _number(name: str, value: Any, low: float, high: float, low_inclusive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"{name} must be a number", param=name)
    too_low = value < low if low_inclusive else value <= low
    if too_low or value > high:
        bound = f"at least {low:g}" if low_inclusive else f"more than {low:g}"
        raise SpecError(f"{name} must be {bound} and at most {high:g}", param=name)
    return float(value)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SpecError(f"{name} must be one of: {', '.join(allowed)}", param=name)
    return str(value)


def _integer(name: str, value: Any, low: int, high: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{name} must be a whole number", param=name)
    if value < low or (high is not None and value > high):
        limit = f" and at most {high}" if high is not None else ""
        raise SpecError(f"{name} must be at least {low}{limit}", param=name)
    return value
