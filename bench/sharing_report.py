"""The sharing benchmark's table and goal lines (bench/sharing.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sharing_state import Tally

from chungus.lib.looplag import percentile

HOUR = 3_600.0
RATIO_GOAL = 1.5
HEADERS = (
    "scenario",
    "GPUs inference / batch",
    "GPU util",
    "of it inference",
    "batch GPU-h (useful)",
    "jobs done",
    "preemptions (killed; beyond the fewest)",
    "recomputed GPU-h",
    "stop + resume GPU-h",
    "replica starts (delayed by batch)",
    "start delay from batch p50 / p99 / max s",
    "start wait, all causes p99 / max s",
)


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    inference_gpus: int
    batch_gpus: int  # 0 with inference_gpus the whole pool: shared, or no batch
    tally: Tally

    @property
    def gpus(self) -> int:
        return self.inference_gpus + self.batch_gpus

    @property
    def batch_hours(self) -> float:
        return self.tally.useful_s / HOUR

    def delays(self) -> list[float]:
        return [s.batch_wait for s in self.tally.starts]

    def waits(self) -> list[float]:
        return [s.wait for s in self.tally.starts]


def cells(row: Row) -> list[str]:
    t = row.tally
    total = row.gpus * t.seconds
    layout = f"{row.inference_gpus} / {row.batch_gpus}"
    if row.label.startswith("shared"):
        layout = f"{row.inference_gpus} shared"
    delays, waits = row.delays(), row.waits()
    delayed = sum(1 for d in delays if d > 0)
    label = row.label
    if t.livelock:
        label += f" (livelocked: stopped at {t.seconds / HOUR:.2f} h)"
    return [
        label,
        layout,
        f"{(t.inference_gpu_s + t.batch_gpu_s) / total:.1%}",
        f"{t.inference_gpu_s / total:.1%}",
        f"{row.batch_hours:,.0f}",
        f"{t.jobs_done:,}",
        f"{t.preemptions:,} ({t.killed:,}; {t.extra_preemptions:,})",
        f"{t.recompute_s / HOUR:.1f}",
        f"{t.overhead_s / HOUR:.1f}",
        f"{len(delays):,} ({delayed:,})",
        " / ".join(f"{percentile(delays, q):.1f}" for q in (0.5, 0.99))
        + f" / {max(delays, default=0.0):.1f}",
        f"{percentile(waits, 0.99):.1f} / {max(waits, default=0.0):.1f}",
    ]


def markdown_table(rows: list[Row]) -> list[str]:
    lines = ["| " + " | ".join(HEADERS) + " |", "|---" + "|---:" * (len(HEADERS) - 1) + "|"]
    return lines + ["| " + " | ".join(cells(r)) + " |" for r in rows]


def text_table(rows: list[Row]) -> list[str]:
    """One block per scenario: the table is too wide for a terminal."""
    lines: list[str] = []
    width = max(len(h) for h in HEADERS)
    for row in rows:
        lines += [f"{h:<{width}}  {c}" for h, c in zip(HEADERS, cells(row), strict=True)]
        lines.append("")
    return lines[:-1]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def goal_lines(rows: list[Row], delay_goal: float) -> list[str]:
    """PASS/FAIL for issue 16's goal (>= 1.5x the static split's batch GPU-hours with the
    inference start delay p99 <= 5 s) for each shared row; then at equal start-wait p99."""
    shared = [r for r in rows if r.label.startswith("shared")]
    static = [r for r in rows if r.label.startswith("static")]
    lines: list[str] = []
    for row in shared:
        lines += _goals(row, static[0], delay_goal)
    if len(static) < 2:
        lines.append("the static split sized for peak is already the smallest with p99 <= goal")
        return lines
    shrunk = static[1]
    static_p99 = percentile(shrunk.waits(), 0.99)
    for row in shared:
        if row.tally.livelock:
            continue
        ratio = row.batch_hours / max(shrunk.batch_hours, 1e-9)
        p99 = percentile(row.waits(), 0.99)
        lines.append(
            f"{verdict(ratio >= RATIO_GOAL and p99 <= delay_goal)}: {row.label}, against the "
            f"static split shrunk to {shrunk.inference_gpus} inference GPUs, the fewest whose "
            f"start-wait p99 (all causes) is <= {delay_goal:g} s ({static_p99:.1f} s; shared "
            f"{p99:.1f} s): batch GPU-h {row.batch_hours:,.0f} / {shrunk.batch_hours:,.0f} = "
            f"{ratio:.2f}x"
        )
    return lines


def _goals(row: Row, static: Row, delay_goal: float) -> list[str]:
    if row.tally.livelock:
        hours = row.tally.seconds / HOUR
        return [f"FAIL: {row.label}: livelocked after {hours:.2f} h: {row.tally.livelock}"]
    ratio = row.batch_hours / max(static.batch_hours, 1e-9)
    p99 = percentile(row.delays(), 0.99)
    return [
        f"{verdict(ratio >= RATIO_GOAL)}: {row.label}: batch GPU-h against the static split "
        f"sized for peak ({static.inference_gpus} + {static.batch_gpus} GPUs): "
        f"{row.batch_hours:,.0f} / {static.batch_hours:,.0f} = {ratio:.2f}x "
        f"(goal >= {RATIO_GOAL}x)",
        f"{verdict(p99 <= delay_goal)}: {row.label}: inference start delay from batch, p99 "
        f"{p99:.2f} s (goal <= {delay_goal:g} s; the static split's is 0: batch never holds "
        "its inference GPUs)",
    ]
