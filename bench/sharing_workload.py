"""The sharing benchmark's workload: diurnal inference demand and an MD ensemble backlog.

Everything is drawn from the seed before a scenario runs, and each scenario draws its jobs
from its own Backlog on the same seed, so every scenario sees the very same request rates,
request times and jobs (the nth job is the same job everywhere). bench/sharing.py states
the assumptions behind the numbers.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

DAY = 86_400.0
HOUR = 3_600.0
PEAK_HOUR = 14.0  # UTC hour of the weekday peak
PEAK_WIDTH_H = 3.5  # standard deviation of the daytime bump, hours
WEEKEND = 0.35  # the daytime bump on Saturday and Sunday, as a share of a weekday's
NOISE_SIGMA = 0.2  # log-normal noise on every model's rate
NOISE_TAU_S = 1_800.0  # its correlation time
BURSTS_PER_DAY = 1.0  # per model: a launch, a batch of users, a demo
BURST_FACTOR = 1.6
BURST_MINUTES = (20.0, 60.0)
DENSE = 50.0  # requests per step above which request times are not drawn one by one


@dataclass(frozen=True, slots=True)
class Model:
    """One model served as up to `max_replicas` deployments of one replica each."""

    name: str
    gpus: int  # per replica
    memory_gib: int  # per GPU, as placement counts it
    priority: int
    always_warm: bool  # replica 0 never unloads; else it unloads after idle_timeout_s
    idle_timeout_s: float
    cold_start_s: float  # weights read, engine healthy
    peak_rate: float  # requests/s at a weekday's peak, before noise and bursts
    per_replica: float  # requests/s one replica serves at its target load
    night_share: float  # the rate at night, as a share of the peak
    max_replicas: int


# vLLM reserves 90 % of a card (72 of 80 GiB) whatever the model: those take whole GPUs. The
# small embedding model (llama.cpp-like) and the vision model share cards by memory.
# name, GPUs, GiB per GPU, priority, always warm, idle timeout s, cold start s,
# peak requests/s, requests/s per replica, night share of the peak, most replicas
_ROWS = (
    ("chat-70b", 4, 72, 100, True, 0.0, 180.0, 7.0, 2.0, 0.10, 6),
    ("chat-8b", 1, 72, 90, True, 0.0, 45.0, 70.0, 8.0, 0.08, 14),
    ("embed-0.6b", 1, 8, 80, True, 0.0, 20.0, 500.0, 200.0, 0.10, 4),
    ("code-32b", 2, 72, 60, False, 900.0, 90.0, 4.0, 1.5, 0.01, 4),
    ("vision-12b", 1, 40, 50, False, 600.0, 60.0, 0.8, 1.0, 0.005, 2),
    ("reasoning-120b", 8, 72, 40, False, 1200.0, 240.0, 0.002, 0.5, 0.05, 1),
)
MODELS = tuple(Model(*row) for row in _ROWS)


def diurnal(t: float, night_share: float) -> float:
    """The rate at time `t` (seconds from a Monday 00:00 UTC) as a share of the weekday peak."""
    day, hour = divmod(t / HOUR, 24.0)
    bump = math.exp(-0.5 * ((hour - PEAK_HOUR) / PEAK_WIDTH_H) ** 2)
    scale = 1.0 if int(day) % 7 < 5 else WEEKEND
    return night_share + (1.0 - night_share) * bump * scale


@dataclass(frozen=True, slots=True)
class Series:
    """One model's demand, step by step: its rate, and when in the step requests came."""

    rates: list[float]  # requests/s during each step
    first: list[float]  # seconds into the step of its first request, -1 for none
    last: list[float]  # seconds into the step of its last request, -1 for none


@dataclass(frozen=True, slots=True)
class Demand:
    step: float
    steps: int
    series: dict[str, Series]


def draw_demand(models: tuple[Model, ...], days: float, step: float, seed: int) -> Demand:
    """Every model's rate and request times over `days`, the same for one seed."""
    steps = math.ceil(days * DAY / step)
    series = {m.name: _series(m, steps, step, random.Random(f"{seed}:{m.name}")) for m in models}
    return Demand(step, steps, series)


def _series(model: Model, steps: int, step: float, rng: random.Random) -> Series:
    bursts = _bursts(steps * step, rng)
    keep = math.exp(-step / NOISE_TAU_S)
    spread = NOISE_SIGMA * math.sqrt(1.0 - keep * keep)
    noise = rng.gauss(0.0, NOISE_SIGMA)
    rates, first, last = [], [], []
    for k in range(steps):
        t = k * step
        noise = keep * noise + rng.gauss(0.0, spread)
        burst = BURST_FACTOR if any(a <= t < b for a, b in bursts) else 1.0
        rate = model.peak_rate * diurnal(t, model.night_share) * burst
        rate *= math.exp(noise - NOISE_SIGMA**2 / 2)
        one, end = _arrivals(rate, step, rng)
        rates.append(rate)
        first.append(one)
        last.append(end)
    return Series(rates, first, last)


def _bursts(horizon: float, rng: random.Random) -> list[tuple[float, float]]:
    found, t = [], rng.expovariate(BURSTS_PER_DAY / DAY)
    while t < horizon:
        found.append((t, t + 60.0 * rng.uniform(*BURST_MINUTES)))
        t += rng.expovariate(BURSTS_PER_DAY / DAY)
    return found


def _arrivals(rate: float, step: float, rng: random.Random) -> tuple[float, float]:
    """The first and last request of a Poisson stream in one step (-1, -1 when none)."""
    if rate <= 0.0:
        return -1.0, -1.0
    if rate * step > DENSE:  # both ends are certainly inside the step
        return rng.expovariate(rate), step - rng.expovariate(rate)
    t, first, last = rng.expovariate(rate), -1.0, -1.0
    while t < step:
        first = t if first < 0 else first
        last = t
        t += rng.expovariate(rate)
    return first, last


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One MD ensemble replica: a 1-GPU job with this much GPU work to do."""

    id: int
    owner: int
    ensemble: int
    work_s: float


class Backlog:
    """Ensembles of MD replicas submitted by a few users, in one order drawn from the seed."""

    USERS = 4
    SIZES = (16, 32, 64)
    MEDIAN_HOURS = 4.0
    SIGMA = 0.5  # of log(hours)
    HOURS = (1.0, 12.0)

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"{seed}:backlog")
        self.next_id = 1
        self.ensembles = 0

    def ensemble(self) -> list[JobSpec]:
        """The next ensemble's replicas."""
        self.ensembles += 1
        owner = self.rng.randrange(self.USERS) + 1
        size = self.rng.choice(self.SIZES)
        jobs = []
        for _ in range(size):
            hours = self.MEDIAN_HOURS * math.exp(self.rng.gauss(0.0, self.SIGMA))
            hours = min(max(hours, self.HOURS[0]), self.HOURS[1])
            jobs.append(JobSpec(self.next_id, owner, self.ensembles, hours * HOUR))
            self.next_id += 1
        return jobs
