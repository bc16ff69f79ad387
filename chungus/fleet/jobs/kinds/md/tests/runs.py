"""Running the real MD job process in a temporary job directory, as CHUNGUS would."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chungus.fleet.jobs.kinds.base import PROGRESS_FILE, SPEC_FILE, read_json
from chungus.fleet.jobs.kinds.md.kind import KIND

REPO = Path(__file__).resolve().parents[6]
# small enough to finish in seconds on a CPU: villin in vacuum, 2,000 steps, 40 frames
TINY = {
    "structure": "villin",
    "solvent": "vacuum",
    "ns": 0.004,
    "equilibration_ps": 0.2,
    "report_every": 50,
    "checkpoint_every": 500,
    "platform": "cpu",
}


def make_job(workdir: Path, **changes: Any) -> dict[str, Any]:
    spec = KIND.validate({**TINY, **changes}, None)
    (workdir / SPEC_FILE).write_text(json.dumps(spec))
    return spec


def start(workdir: Path) -> subprocess.Popen[bytes]:
    command = KIND.command(read_json(workdir / SPEC_FILE), workdir)
    env = {**os.environ, **command.env, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
    with (workdir / "job.log").open("ab") as log:
        return subprocess.Popen(
            command.argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def run(workdir: Path, timeout: float = 120) -> int:
    return start(workdir).wait(timeout)


def wait_for(
    workdir: Path, condition: Callable[[dict[str, Any]], bool], timeout: float = 120
) -> dict[str, Any]:
    """The first progress.json that meets `condition`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = read_json(workdir / PROGRESS_FILE)
        if progress and condition(progress):
            return progress
        time.sleep(0.02)
    raise TimeoutError(f"progress never got there: {read_json(workdir / PROGRESS_FILE)}")
