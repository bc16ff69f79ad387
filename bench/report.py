"""Results of bench/overhead.py: the records it keeps, the tables it prints, the issue's checks.

Every ratio (x direct, x floor, cpu x floor, ...) is taken within one run, where the
targets were measured in interleaved rounds, and only then is the median over the
`--repeat` runs taken: paired ratios cancel most of the machine's drift between runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import math
import os
import platform
import shlex
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

HEADER = "target|mode|conc|ok|err|req/s|x direct|x floor|p50 ms|p99 ms|+p50 ms|+p99 ms|ttft p50"
HEADER += "|cpu ms/req"
SUMMARY = "mode|conc|target|x floor|x floor range|cpu x floor|+p50 ms|x chungus|cpu x chungus"
Cells = dict[tuple[str, int, str], "Cell"]
Key = tuple[str, int, str]  # (mode, concurrency, target name)

# Issue 14's acceptance lines, checked on the summary's medians.
MIN_X_FLOOR = 0.6  # non-streamed req/s at c=64, over the floor's
MAX_CPU_X_FLOOR = 1.5  # non-streamed CPU per request at c=64, over the floor's
MIN_X_FLOOR_STREAM = 0.5  # streamed req/s at c=64
MAX_ADD_P50_MS = 0.3  # p50 added over the floor at c=1
VARIANT_TOLERANCE = 0.10  # these variants vs plain chungus, in req/s and CPU per request
VARIANT_CHECKED = ("chungus-limits", "chungus-mapped", "chungus-pg")
PLAIN = "chungus"


@dataclass
class Target:
    """One endpoint under test and the process whose CPU it spends."""

    name: str
    base_url: str
    headers: dict[str, str]
    pid: int
    shared: bool = False  # the process also serves other targets: count CPU in its own batches
    slow: bool = False  # its rounds would stretch the others' cells: measured after them


@dataclass
class Outcome:
    """One request's result, in seconds."""

    latency: float
    ttft: float | None
    error: str | None


@dataclass
class Cell:
    """Accumulated results of one target in one (mode, concurrency) cell."""

    outcomes: list[Outcome] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    capped: bool = False


@dataclass
class Stats:
    """One target's numbers in one cell: of one run, or (see median_stats) over several."""

    ok: int
    err: int
    capped: bool
    rps: float
    p50: float  # ms, as every latency here
    p99: float
    ttft50: float
    cpu: float  # ms per request
    # Comparisons within the same run, filled in by run_stats; NaN where there is no base.
    x_direct: float = math.nan
    x_floor: float = math.nan
    add50: float = math.nan  # over direct
    add99: float = math.nan
    cpu_x_floor: float = math.nan
    add50_floor: float = math.nan  # over the floor
    x_chungus: float = math.nan
    cpu_x_chungus: float = math.nan


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def rps_p50_p99(cell: Cell) -> tuple[float, float, float]:
    """Successful requests per second and latency percentiles in ms."""
    ok = [o.latency for o in cell.outcomes if o.error is None]
    rps = len(ok) / cell.wall if cell.wall else 0.0
    return rps, percentile(ok, 0.5) * 1e3, percentile(ok, 0.99) * 1e3


def ratio(a: float, b: float) -> float:
    """a / b, NaN when b is zero or unknown."""
    return a / b if b and not math.isnan(b) else math.nan


def cell_stats(cell: Cell) -> Stats:
    """A cell's own numbers; the comparisons are filled in by run_stats."""
    rps, p50, p99 = rps_p50_p99(cell)
    ok = [o for o in cell.outcomes if o.error is None]
    ttft50 = percentile([o.ttft for o in ok if o.ttft is not None], 0.5) * 1e3
    cpu = cell.cpu / len(cell.outcomes) * 1e3 if cell.outcomes else math.nan
    return Stats(len(ok), len(cell.outcomes) - len(ok), cell.capped, rps, p50, p99, ttft50, cpu)


def run_stats(cells: Cells) -> dict[Key, Stats]:
    """Every target's numbers in one run, compared with direct, the floor and plain chungus."""
    own = {key: cell_stats(cell) for key, cell in cells.items()}
    for (mode, conc, _), s in own.items():
        if direct := own.get((mode, conc, "direct")):
            s.x_direct = ratio(s.rps, direct.rps)
            s.add50, s.add99 = s.p50 - direct.p50, s.p99 - direct.p99
        if floor := own.get((mode, conc, "floor")):
            s.x_floor, s.cpu_x_floor = ratio(s.rps, floor.rps), ratio(s.cpu, floor.cpu)
            s.add50_floor = s.p50 - floor.p50
        if plain := own.get((mode, conc, PLAIN)):
            s.x_chungus, s.cpu_x_chungus = ratio(s.rps, plain.rps), ratio(s.cpu, plain.cpu)
    return own


def median_stats(runs: list[Stats]) -> Stats:
    """Counts summed, `capped` if any run was, every other number the median over the runs."""
    merged: dict[str, Any] = {}
    for f in fields(Stats):
        values = [getattr(r, f.name) for r in runs]
        if f.type == "int":
            merged[f.name] = sum(values)
        elif f.type == "bool":
            merged[f.name] = any(values)
        else:
            known = [v for v in values if not math.isnan(v)]
            merged[f.name] = statistics.median(known) if known else math.nan
    return Stats(**merged)


def num(value: float, spec: str = ".2f") -> str:
    """A number for a table; '-' when unknown."""
    return "-" if math.isnan(value) else format(value, spec)


def rows(med: dict[Key, Stats], targets: list[Target], args: argparse.Namespace) -> list[list[str]]:
    """One formatted row per (mode, concurrency, target)."""
    out = []
    for mode in args.modes:
        for conc in args.concurrency:
            for target in targets:
                s = med[(mode, conc, target.name)]
                name = target.name + (" (time cap)" if s.capped else "")
                rates = [num(s.rps, ".0f"), num(s.x_direct), num(s.x_floor)]
                times = [num(s.p50), num(s.p99), num(s.add50, "+.2f"), num(s.add99, "+.2f")]
                tail = [num(s.ttft50), num(s.cpu)]
                out.append([name, mode, str(conc), str(s.ok), str(s.err), *rates, *times, *tail])
    return out


def summary_rows(runs: list[dict[Key, Stats]]) -> list[list[str]]:
    """Per mode and concurrency, each gateway against the floor (and against plain chungus)."""
    out = []
    for key in (k for k in runs[0] if k[2] not in ("direct", "floor")):
        s = median_stats([r[key] for r in runs])
        spread = [r[key].x_floor for r in runs if not math.isnan(r[key].x_floor)]
        low_high = f"{min(spread):.2f}-{max(spread):.2f}" if spread else "-"
        mode, conc, name = key
        floor = [num(s.x_floor), low_high, num(s.cpu_x_floor), num(s.add50_floor, "+.2f")]
        out.append([mode, str(conc), name, *floor, num(s.x_chungus), num(s.cpu_x_chungus)])
    return out


def check(value: float | None, op: str, bound: float, what: str) -> str:
    """One acceptance line: PASS or FAIL with the value and the bound, SKIP if not measured."""
    if value is None or math.isnan(value):
        return f"SKIP {what}: not measured"
    passed = value >= bound if op == ">=" else value <= bound
    return f"{'PASS' if passed else 'FAIL'} {what}: {value:.2f} ({op} {bound:g})"


def checks(med: dict[Key, Stats], modes: list[str]) -> list[str]:
    """Issue 14's acceptance lines, checked on the medians (c=64 and c=1 as the issue says)."""
    out = []
    tol = VARIANT_TOLERANCE
    for mode in modes:
        s = med.get((mode, 64, PLAIN))
        least = MIN_X_FLOOR if mode == "nonstream" else MIN_X_FLOOR_STREAM
        out.append(check(s.x_floor if s else None, ">=", least, f"{PLAIN} {mode} c=64 x floor"))
        if mode == "nonstream":
            value = s.cpu_x_floor if s else None
            out.append(check(value, "<=", MAX_CPU_X_FLOOR, f"{PLAIN} {mode} c=64 cpu x floor"))
        s = med.get((mode, 1, PLAIN))
        value = s.add50_floor if s else None
        out.append(check(value, "<=", MAX_ADD_P50_MS, f"{PLAIN} {mode} c=1 +p50 ms over floor"))
        for name in VARIANT_CHECKED:
            s = med.get((mode, 64, name))
            what = f"{name} {mode} c=64"
            out.append(check(s.x_chungus if s else None, ">=", 1 - tol, f"{what} x chungus"))
            value = s.cpu_x_chungus if s else None
            out.append(check(value, "<=", 1 + tol, f"{what} cpu x chungus"))
    return out


def versions(targets: list[Target], args: argparse.Namespace) -> str:
    """Versions of the gateways measured, read from their installed metadata."""
    found = [f"python {platform.python_version()}", f"aiohttp {aiohttp.__version__}"]
    if any(t.name.startswith(PLAIN) for t in targets):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"chungus {importlib.metadata.version('chungus')}")
    if any(t.name == "litellm" for t in targets):
        dists = args.litellm_venv.glob("lib/*/site-packages/litellm-*.dist-info")
        found += [p.name.removesuffix(".dist-info").replace("-", " ") for p in dists]
    return ", ".join(found)


def machine_info() -> list[str]:
    """Date, kernel, CPU model and cores, exact command line."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [
        ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")
    ]
    uname = platform.uname()
    return [
        f"date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"machine: {uname.system} {uname.release} {uname.machine}, {os.cpu_count()} cores, "
        f"{models[0] if models else 'unknown CPU'}",
        f"command: `{shlex.join(sys.orig_argv)}`",
    ]


def text_table(header: str, table: list[list[str]], left: int = 2) -> str:
    """Align rows under a header for a terminal; the first `left` columns flush left."""
    lines = [header.split("|"), *table]
    widths = [max(len(r[i]) for r in lines) for i in range(len(lines[0]))]
    text = [
        "  ".join(
            c.rjust(w) if i >= left else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in lines
    ]
    return "\n".join([text[0], "-" * len(text[0]), *text[1:]])


def markdown_table(header: str, table: list[list[str]], left: int = 2) -> str:
    """The same table for RESULTS.md."""
    cols = header.split("|")
    align = ["---" if i < left else "---:" for i in range(len(cols))]
    lines = [f"| {' | '.join(cols)} |", f"|{'|'.join(align)}|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in table])


def report(
    cells_per_run: list[Cells], targets: list[Target], args: argparse.Namespace, pinning: str
) -> None:
    """Print the tables, the checks, error reasons and, with --markdown, a pasteable block."""
    runs = [run_stats(cells) for cells in cells_per_run]
    med = {key: median_stats([r[key] for r in runs]) for key in runs[0]}
    table, summary, verdicts = (
        rows(med, targets, args),
        summary_rows(runs),
        checks(med, args.modes),
    )
    of = f"medians of {len(runs)} runs" if len(runs) > 1 else "one run"
    print(f"\n{pinning}\nper cell: {of} (ok and err: totals over the runs)\n")
    print(text_table(HEADER, table))
    print(
        "\nx direct / x floor: req/s relative to the fake upstream / the floor proxy;"
        "\n+p50/+p99: latency added vs direct; ttft: time to the first content chunk;"
        "\ncpu ms/req: CPU of the target's own process tree (for direct, the fake itself)."
    )
    print(f"\nsummary ({of}; each ratio taken within a run, then the median):\n")
    print(text_table(SUMMARY, summary, left=3))
    print(
        "\nx floor range: lowest-highest over the runs; +p50 ms: p50 added over the floor;"
        f"\nx chungus / cpu x chungus: req/s and CPU per request over plain {PLAIN}.\n"
    )
    if not args.pinned:
        print("(not pinned: the issue's lines assume one core for each target)")
    print("\n".join(verdicts))
    errors: dict[Key, Counter[str]] = {}
    for cells in cells_per_run:
        for key, cell in cells.items():
            errors.setdefault(key, Counter()).update(o.error for o in cell.outcomes if o.error)
    for (mode, conc, name), reasons in errors.items():
        if reasons:
            print(f"errors {name} {mode} c={conc}: {dict(reasons.most_common(5))}")
    if args.markdown:
        print("\n" + "\n".join(f"- {line}" for line in machine_info()))
        print(f"- versions: {versions(targets, args)}")
        print(f"- {pinning}")
        print(
            f"- {args.requests} requests per target per cell in {args.rounds} interleaved rounds, "
            f"{args.chunks} chunks per stream, {of}; load generator in the same machine\n"
        )
        print(markdown_table(HEADER, table) + "\n")
        print(markdown_table(SUMMARY, summary, left=3) + "\n")
        print("\n".join(f"- {line}" for line in verdicts))
