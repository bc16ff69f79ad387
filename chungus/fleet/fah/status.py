"""Where Folding@Home stands: the setting, its client jobs, which GPUs fold now and how long
each GPU has folded (from the GPU timeline, GpuHold). The CLI and the dashboard show this;
it never holds the passkey, only whether its variable is set in this process.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from chungus.fleet.fah.kind import KIND
from chungus.fleet.fah.models import FahSetting
from chungus.fleet.jobs.models import GpuHold, Job
from chungus.fleet.states import JOB_FINAL

DAY = 86_400
RECENT_CLIENTS = 20


@dataclass(frozen=True, slots=True)
class Folding:
    node: str
    gpu: int
    job_id: int
    since: int  # Unix time
    seconds: int

    @property
    def since_at(self) -> datetime:
        return datetime.fromtimestamp(self.since, UTC)

    @property
    def for_words(self) -> str:
        return duration(self.seconds)


@dataclass(frozen=True, slots=True)
class GpuTime:
    node: str
    gpu: int
    last_day_seconds: int
    total_seconds: int

    @property
    def last_day_words(self) -> str:
        return duration(self.last_day_seconds)

    @property
    def total_words(self) -> str:
        return duration(self.total_seconds)


@dataclass
class Status:
    setting: FahSetting
    passkey: str  # in words: where it comes from, and whether it is set here
    clients: list[dict[str, Any]] = field(default_factory=list)  # newest first
    folding: list[Folding] = field(default_factory=list)
    gpu_time: list[GpuTime] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        s = self.setting
        return {
            "enabled": s.enabled,
            "user": s.user,
            "team": s.team,
            "passkey": self.passkey,
            "gpus": s.gpus,
            "changed_by": s.changed_by,
            "changed_at": s.changed_at.isoformat(),
            "clients": self.clients,
            "folding": [asdict(f) for f in self.folding],
            "gpu_time": [asdict(g) for g in self.gpu_time],
        }


def passkey_words(env_name: str) -> str:
    if not env_name:
        return "none (folding as user and team only)"
    here = "set" if os.environ.get(env_name) else "NOT set"
    return f"from ${env_name} ({here} in this process's environment)"


def status(now: float | None = None) -> Status:
    now = time.time() if now is None else now
    setting = FahSetting.current()
    jobs = Job.objects.filter(kind=KIND.name).select_related("owner")
    live = [j.summary() for j in jobs.exclude(state__in=list(JOB_FINAL))]
    ended = [j.summary() for j in jobs.filter(state__in=list(JOB_FINAL))[:RECENT_CLIENTS]]
    names = [str(pk) for pk in jobs.values_list("pk", flat=True)]
    holds = GpuHold.objects.filter(holder="job", name__in=names)
    folding: list[Folding] = []
    day: dict[tuple[str, int], float] = defaultdict(float)
    total: dict[tuple[str, int], float] = defaultdict(float)
    for hold in holds.order_by("node", "gpu", "started"):
        end = now if hold.ended is None else hold.ended
        key = (hold.node, hold.gpu)
        total[key] += max(0.0, end - hold.started)
        day[key] += max(0.0, end - max(hold.started, now - DAY))
        if hold.ended is None:
            since = hold.started
            folding.append(Folding(hold.node, hold.gpu, int(hold.name), since, int(now - since)))
    gpu_time = [GpuTime(n, g, int(day[(n, g)]), int(t)) for (n, g), t in sorted(total.items())]
    return Status(setting, passkey_words(setting.passkey_env), live + ended, folding, gpu_time)


def duration(seconds: float) -> str:
    """'2 h 05 min', '3 min 12 s', '40 s'."""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"
