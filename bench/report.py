"""Results of bench/overhead.py: the records it keeps and the tables it prints."""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import math
import os
import platform
import shlex
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

HEADER = "target|mode|conc|ok|err|req/s|x direct|x floor|p50 ms|p99 ms|+p50 ms|+p99 ms|ttft p50"
HEADER += "|cpu ms/req"
Cells = dict[tuple[str, int, str], "Cell"]


@dataclass
class Target:
    """One endpoint under test and the process whose CPU it spends."""

    name: str
    base_url: str
    headers: dict[str, str]
    pid: int
    shared: bool = False  # the process also serves other targets: count CPU in its own batches


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


def rows(cells: Cells, targets: list[Target], args: argparse.Namespace) -> list[list[str]]:
    """One formatted row per (mode, concurrency, target)."""
    out = []
    for mode in args.modes:
        for conc in args.concurrency:
            base_rps, base50, base99 = rps_p50_p99(cells[(mode, conc, "direct")])
            floor_rps = rps_p50_p99(cells[(mode, conc, "floor")])[0]
            for target in targets:
                cell = cells[(mode, conc, target.name)]
                rps, p50, p99 = rps_p50_p99(cell)
                ok = [o for o in cell.outcomes if o.error is None]
                ttfts = [o.ttft for o in ok if o.ttft is not None]
                row = [target.name + (" (time cap)" if cell.capped else ""), mode, str(conc)]
                row += [str(len(ok)), str(len(cell.outcomes) - len(ok)), f"{rps:.0f}"]
                row += [
                    f"{rps / base_rps:.2f}" if base_rps else "-",
                    f"{rps / floor_rps:.2f}" if floor_rps else "-",
                ]
                row += [f"{p50:.2f}", f"{p99:.2f}", f"{p50 - base50:+.2f}", f"{p99 - base99:+.2f}"]
                row.append(f"{percentile(ttfts, 0.5) * 1e3:.2f}" if ttfts else "-")
                row.append(f"{cell.cpu / len(cell.outcomes) * 1e3:.2f}" if cell.outcomes else "-")
                out.append(row)
    return out


def text_table(table: list[list[str]]) -> str:
    """Align rows under HEADER for a terminal."""
    lines = [HEADER.split("|"), *table]
    widths = [max(len(r[i]) for r in lines) for i in range(len(lines[0]))]
    text = [
        "  ".join(
            c.rjust(w) if i > 1 else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in lines
    ]
    return "\n".join([text[0], "-" * len(text[0]), *text[1:]])


def ratios(table: list[list[str]]) -> list[str]:
    """One line per gateway row: its req/s as a fraction of direct and of the floor."""
    gateways = [row for row in table if row[0].split()[0] not in ("direct", "floor")]
    return [f"{r[0]} {r[1]} c={r[2]}: {r[6]} of direct, {r[7]} of floor" for r in gateways]


def versions(targets: list[Target], args: argparse.Namespace) -> str:
    """Versions of the gateways measured, read from their installed metadata."""
    found = [f"python {platform.python_version()}", f"aiohttp {aiohttp.__version__}"]
    if any(t.name == "chungus" for t in targets):
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


def report(cells: Cells, targets: list[Target], args: argparse.Namespace) -> None:
    """Print the table, the ratios, error reasons and, with --markdown, a pasteable block."""
    table = rows(cells, targets, args)
    print(text_table(table))
    print(
        "\nx direct / x floor: req/s relative to the fake upstream / the floor proxy;"
        "\n+p50/+p99: latency added vs direct; ttft: time to the first content chunk;"
        "\ncpu ms/req: CPU of the target's own process tree (for direct, the fake itself)."
    )
    print("\n".join(["", *ratios(table)]))
    for (mode, conc, name), cell in cells.items():
        if reasons := Counter(o.error for o in cell.outcomes if o.error is not None):
            print(f"errors {name} {mode} c={conc}: {dict(reasons.most_common(5))}")
    if args.markdown:
        print("\n" + "\n".join(f"- {line}" for line in machine_info()))
        print(f"- versions: {versions(targets, args)}")
        print(
            f"- {args.requests} requests per target per cell in {args.rounds} interleaved rounds, "
            f"{args.chunks} chunks per stream; load generator in the same machine\n"
        )
        print(f"| {HEADER.replace('|', ' | ')} |")
        print("|---|---|" + "---:|" * (len(HEADER.split("|")) - 2))
        for row in table:
            print("| " + " | ".join(row) + " |")
