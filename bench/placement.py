"""Simulate GPU placement at scale: decision time and utilization against a lower bound.

A declared cluster (default 125 nodes x 8 GPUs of 80 GiB = 1,000 GPUs) receives
a stream of deployments and jobs that arrive and leave (default 10,000 arrivals),
placed by chungus.scheduling.placement.decide, the same function CHUNGUS uses.
Reports the time per placement decision and the GPUs in use against the
fractional bin-packing lower bound (total memory asked / memory per GPU).
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import math
import os
import platform
import random
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chungus.scheduling.placement import GIB, Cluster, Gpu, Node, Policy, Work, decide

SIZES = [  # (gpus, GiB per GPU, weight): small models share cards, big ones span them
    (1, 6, 30), (1, 12, 25), (1, 20, 15), (1, 40, 10),
    (1, 75, 8), (2, 60, 6), (4, 70, 4), (8, 70, 2),
]  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=125)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--gib-per-gpu", type=int, default=80)
    parser.add_argument("--arrivals", type=int, default=10_000)
    parser.add_argument("--load", type=float, default=0.85, help="target share of memory asked for")
    parser.add_argument("--policy", choices=[p.value for p in Policy], default="binpack")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--markdown", action="store_true", help="print a block for bench/RESULTS.md"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    rng = random.Random(args.seed)
    card = args.gib_per_gpu * GIB
    nodes = [
        Node(f"n{i:03d}", tuple(Gpu(g, card) for g in range(args.gpus_per_node)))
        for i in range(args.nodes)
    ]
    cluster = Cluster(nodes)
    capacity = args.nodes * args.gpus_per_node * card
    mean_ask = sum(g * m * GIB * w for g, m, w in SIZES) / sum(w for *_, w in SIZES)
    lifetime = args.load * capacity / mean_ask  # arrivals per unit time = 1: Little's law
    weights = [w for *_, w in SIZES]
    departures: list[tuple[float, str]] = []
    timings, ratios, utilizations, offline = [], [], [], []
    pending = evictions = 0
    for n in range(args.arrivals):
        now = float(n)
        while departures and departures[0][0] <= now:
            _, gone = heapq.heappop(departures)
            if gone in cluster.works:
                cluster.remove(gone)
        gpus, gib, _ = rng.choices(SIZES, weights)[0]
        work = Work(
            f"w{n}",
            gpus,
            gib * GIB,
            priority=rng.choice((0, 0, 1, 2)),
            preemptible=rng.random() < 0.3,
        )
        started = time.perf_counter()
        decision = decide(cluster, [work], Policy(args.policy))
        timings.append(time.perf_counter() - started)
        pending += len(decision.pending)
        evictions += len(decision.evictions)
        if decision.assignments:
            heapq.heappush(departures, (now + rng.expovariate(1 / lifetime), work.id))
        if n % 50 == 0 and n > args.arrivals // 5:  # after warm-up
            used = [c for cards in cluster.cards.values() for c in cards if c.holders]
            asked = sum(w.gpus * w.memory_mb for w in cluster.works.values())
            bound = lower_bound(list(cluster.works.values()), card)
            if bound:
                ratios.append(len(used) / bound)
                utilizations.append(asked / (len(used) * card))
                offline.append(len(used) / repacked(list(cluster.works.values()), card))
    report(args, timings, ratios, utilizations, offline, pending, evictions)


def lower_bound(works: list[Work], card: int) -> int:
    """Martello and Toth's L2 bound: no packing of these GPU slots uses fewer cards.

    For each threshold k (0 and every slot size up to half a card): slots over
    card - k fit beside no slot of size k or more; slots over half a card share
    their card with no other such slot, and the slots from k to half a card can
    at best fill what those leave free, then whole cards. L2 is the largest of
    these counts, and at least the memory asked / memory per card. Sharing one
    node's GPUs, which multi-GPU work needs, is ignored: the bound stays valid.
    """
    slots = sorted(m for w in works for m in [w.memory_mb] * w.gpus)
    best = math.ceil(sum(slots) / card)
    for k in {0, *(m for m in slots if 2 * m <= card)}:
        alone = sum(1 for m in slots if m > card - k)
        big = [m for m in slots if card - k >= m and 2 * m > card]
        small = sum(m for m in slots if k <= m and 2 * m <= card)
        spare = len(big) * card - sum(big)
        best = max(best, alone + len(big) + math.ceil(max(0, small - spare) / card))
    return best


def repacked(works: list[Work], card: int) -> int:
    """GPUs an offline best-fit-decreasing packing of the same slots uses, knowing them
    all at once and free to move any (and ignoring nodes): what hindsight would give."""
    free: list[int] = []  # free memory of each card opened, kept sorted
    for memory in sorted((w.memory_mb for w in works for _ in range(w.gpus)), reverse=True):
        at = bisect.bisect_left(free, memory)
        if at == len(free):
            bisect.insort(free, card - memory)
        else:
            bisect.insort(free, free.pop(at) - memory)
    return len(free)


def report(
    args: argparse.Namespace,
    timings: list[float],
    ratios: list[float],
    utilizations: list[float],
    offline: list[float],
    pending: int,
    evictions: int,
) -> None:
    ms = sorted(t * 1e3 for t in timings)
    p99 = ms[int(0.99 * (len(ms) - 1))]
    gpus = args.nodes * args.gpus_per_node
    lines = [
        f"cluster: {args.nodes} nodes x {args.gpus_per_node} GPUs x {args.gib_per_gpu} GiB "
        f"= {gpus} GPUs; "
        f"{args.arrivals} arrivals at {args.load:.0%} offered load; policy {args.policy}",
        f"decision time: mean {statistics.fmean(ms):.3f} ms, p50 {statistics.median(ms):.3f} ms, "
        f"p99 {p99:.3f} ms, max {ms[-1]:.3f} ms",
        f"GPUs in use / lower bound (L2): mean {statistics.fmean(ratios):.3f}, "
        f"p95 {sorted(ratios)[int(0.95 * (len(ratios) - 1))]:.3f}, "
        f"worst {max(ratios):.3f} (1.00 = no packing could use fewer GPUs)",
        f"GPUs in use / offline best-fit-decreasing repack of the same work: "
        f"mean {statistics.fmean(offline):.3f}, worst {max(offline):.3f}",
        f"memory used on GPUs in use: mean {statistics.fmean(utilizations):.1%}",
        f"not placed on arrival (pending): {pending}; evictions: {evictions}",
    ]
    if args.markdown:
        cpu = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            "unknown CPU",
        )
        lines = [
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}",
            f"- command: `{shlex.join(sys.orig_argv)}`",
            *(f"- {line}" for line in lines),
        ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
