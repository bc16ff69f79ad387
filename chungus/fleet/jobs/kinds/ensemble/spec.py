"""The ensemble spec: N replicas of one MD run, each with its own seed (pure; no OpenMM).

What a user asks is an MD spec (md/spec.py: the structure and every simulation setting)
plus the ensemble's own keys; the completed spec keeps them apart:

    {"replicas": 4, "md": {...complete MD spec, no seed...}, "seeds": [...4 seeds...],
     "reference_file": "input/reference.pdb" | None, "rmsd_threshold_nm": 0.3,
     "max_retries": 2}

Each replica is an MD job of `md` with `seed` = its seed: its own initial velocities and
thermostat noise, so the trajectories differ from the first step.
"""

from __future__ import annotations

import random
from typing import Any

from chungus.fleet.jobs.kinds.base import SpecError
from chungus.fleet.jobs.kinds.md import spec as md_spec

MAX_REPLICAS = 256
DEFAULT_REPLICAS = 4
MAX_RETRIES = 10
DEFAULT_RETRIES = 2
DEFAULT_THRESHOLD_NM = 0.3
REFERENCE_FILE = "input/reference"  # + the upload's suffix
OWN_KEYS = frozenset({"replicas", "seed", "rmsd_threshold_nm", "max_retries"})


def complete(
    spec: dict[str, Any], uploaded_suffix: str | None, reference_suffix: str | None
) -> dict[str, Any]:
    """The ensemble's complete spec; SpecError naming the parameter at fault."""
    if not isinstance(spec, dict):
        raise SpecError("the spec must be a JSON object")
    own = {k: v for k, v in spec.items() if k in OWN_KEYS}
    replicas = _whole("replicas", own.get("replicas", DEFAULT_REPLICAS), 1, MAX_REPLICAS)
    retries = _whole("max_retries", own.get("max_retries", DEFAULT_RETRIES), 0, MAX_RETRIES)
    base = own.get("seed")
    if base is None:
        base = random.SystemRandom().randrange(1, md_spec.MAX_SEED - MAX_REPLICAS)
    base = _whole("seed", base, 1, md_spec.MAX_SEED - MAX_REPLICAS)
    threshold = own.get("rmsd_threshold_nm", DEFAULT_THRESHOLD_NM)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise SpecError("rmsd_threshold_nm must be a number", "rmsd_threshold_nm")
    if not 0 < threshold <= 10:
        raise SpecError("rmsd_threshold_nm must be more than 0 and at most 10", "rmsd_threshold_nm")
    md = md_spec.complete({k: v for k, v in spec.items() if k not in OWN_KEYS}, uploaded_suffix)
    return {
        "replicas": replicas,
        "md": md,
        "seeds": [base + i for i in range(replicas)],
        "reference_file": REFERENCE_FILE + reference_suffix if reference_suffix else None,
        "rmsd_threshold_nm": float(threshold),
        "max_retries": retries,
    }


def replica_spec(ensemble: dict[str, Any], index: int) -> dict[str, Any]:
    """The MD spec of replica `index` (0-based)."""
    return {**ensemble["md"], "seed": ensemble["seeds"][index]}


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(f"{name} must be a whole number from {low} to {high}", name)
    return value
