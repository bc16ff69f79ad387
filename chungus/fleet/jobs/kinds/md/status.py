"""What the job process tells the world: progress.json (atomically), error.json, log lines."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from chungus.fleet.jobs.kinds.base import ERROR_FILE, PROGRESS_FILE, write_json

PHASES = ("preparing", "minimising", "equilibrating", "production", "done")
SECONDS_PER_DAY = 86_400


class Status:
    """The figures in progress.json; every update rewrites the whole file atomically."""

    def __init__(self, workdir: Path, fields: dict[str, Any]) -> None:
        self.path = workdir / PROGRESS_FILE
        self.fields = fields

    @classmethod
    def start(
        cls, workdir: Path, previous: dict[str, Any], steps_total: int, timestep_fs: float
    ) -> Status:
        """A new attempt: counts carried over from the `previous` attempt's progress.json."""
        return cls(
            workdir,
            {
                "phase": "preparing",
                "steps_done": 0,
                "steps_total": steps_total,
                "ns_done": 0.0,
                "ns_total": ns(steps_total, timestep_fs),
                "ns_per_day": None,
                "eta_seconds": None,
                "platform": "",
                "checkpoint_step": None,
                "attempt": int(previous.get("attempt", 0)) + 1,
                "steps_recomputed": int(previous.get("steps_recomputed", 0)),
                "atoms": None,
            },
        )

    def update(self, **changes: Any) -> None:
        self.fields.update(changes)
        write_json(self.path, self.fields)

    def production(self, steps_done: int, timestep_fs: float, steps_per_second: float) -> None:
        remaining = self.fields["steps_total"] - steps_done
        self.update(
            phase="production",
            steps_done=steps_done,
            ns_done=ns(steps_done, timestep_fs),
            ns_per_day=round(ns(steps_per_second, timestep_fs) * SECONDS_PER_DAY, 3),
            eta_seconds=round(remaining / steps_per_second) if steps_per_second > 0 else None,
        )


def ns(steps: float, timestep_fs: float) -> float:
    return round(steps * timestep_fs * 1e-6, 9)


def fail(workdir: Path, message: str) -> None:
    write_json(workdir / ERROR_FILE, {"message": message})
    log(message)


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)
