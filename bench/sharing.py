"""GPU sharing: CHUNGUS's shared pool against a static split, on one week of simulated demand.

A declared cluster (default 8 nodes x 8 GPUs x 80 GiB = 64 GPUs) serves diurnal inference
demand and a backlog of MD ensemble replicas for 7 simulated days. Three scenarios see the
same demand, request times and jobs (one --seed):

  shared      CHUNGUS's pool: deployments preempt batch jobs, batch jobs take every GPU
              nothing else holds; a GPU freed by preempting a job is kept for the replica
              that preempted it until it starts (Context.reserved, honoured by dispatch).
              A deployment waits only for what it preempted or swapped out itself
              (Context.awaiting), not for every drain and checkpoint in the pool. Run
              twice: as CHUNGUS decides now, and without the reservation (dispatch then
              gives such a GPU to a queued job when the replica needs more than one GPU and
              its other victims still checkpoint; the replica preempts again, for ever).
              A run stops when a replica has waited 30 min with 50 jobs preempted for it,
              and says so;
  static      the GPUStack-style layout: K GPUs for inference, the rest for batch, never
              lent across. K is sized with hindsight for the week's peak (the fewest GPUs on
              which inference alone waits no longer than on all of them); a second static
              row is shrunk to the fewest GPUs whose start-wait p99 is still <= 5 s, the
              static split at the shared pool's delay target;
  alone       inference only, no batch.

The decisions are CHUNGUS's own functions (bench/sharing_sim.py names each): placement's
decide(), fair_order() and placement_priority(), JobRun.work() (how a running job counts
in a placement), job_of(), and drain.finished(). What the simulator adds is the workload
(sharing_workload.py), the clock and its state (sharing_state.py).

Assumptions (each is an option or a constant you can change):

- Demand (sharing_workload.py): six models; a weekday bump peaking at 14:00 UTC (sd 3.5 h),
  weekends at 35 % of it, nights at 0.5-10 % of the peak; log-normal noise (sd 0.2, 30-min
  correlation) and about one burst per model per day (x1.6 for 20-60 min). chat-70b (4
  GPUs), chat-8b and embed-0.6b are always warm; code-32b (2 GPUs), vision-12b and
  reasoning-120b (8 GPUs, a whole node) unload after 15, 10 and 20 idle minutes and
  cold-start on the next request. vLLM-served models reserve 72 of 80 GiB (a whole card);
  embed (8 GiB) and vision (40 GiB) share cards by memory.
- Scaling: replicas 1.. of a model follow ceil(rate / requests-per-replica) each demand
  step (--step, 30 s) and stop after 10 min below it. CHUNGUS has no autoscaler and
  restarts a deployment whose replica count changes, so each replica is modelled as a
  deployment of its own, started and stopped by an operator's script or an external
  autoscaler; idle unload is CHUNGUS's (handlers/ready.py), as is swapping out idle
  deployments to make room (handlers/pending.py).
- Batch: 4 users submit ensembles of 16, 32 or 64 one-GPU replicas, each 1-12 h of GPU
  work (log-normal, median 4 h), kept at --backlog queued replicas at least; every job
  takes a whole GPU (dispatch.py: memory_mb 0 means the whole card).
- Preemption: the MD kind checkpoints on SIGTERM and exits; its GPU is free --stop-seconds
  later (2 s: the 0.34 s max bench/RESULTS.md measured for it on CPU, plus an allowance for
  a GPU context's teardown), each stop varying by +-(--stop-spread) 50 %, so jobs preempted
  together exit at different moments with a reconcile pass between (as in CHUNGUS whenever
  exits are further apart than a pass takes; --stop-spread 0 makes them exit at one
  instant, seen by one pass). It loses no work. A share --killed-share of preemptions (0)
  instead ignore SIGTERM: the GPU is held the whole --grace (30 s, the jobs' default) and
  the work since the last periodic checkpoint (every --checkpoint-minutes of GPU work, 10)
  is lost. Each resumed attempt spends --resume-seconds (60) starting up (counted lost).
- Placement: one CHUNGUS process places on all the nodes with decide() (today's local
  dispatcher places on one node; bench/placement.py drives decide() the same way);
  pending replicas go highest priority first, then earliest asked. The column "beyond
  the fewest" counts jobs preempted beyond the fewest one node needed: decide() prices an
  eviction by the sum of the victims' priorities, and jobs rank near -1e9, so it prefers
  the node where it must evict the most jobs.
- Drains: a stopped replica drains by drain.finished() with DrainPolicy's defaults
  (1 s grace, 30 s timeout); requests in flight on a scaled-down replica take 8 s to end; an
  idle one has none. An engine's exit frees its GPU 2 s after its drain.
- Timing: the reconciler is kicked by every event (no 2 s tick lag, in any scenario);
  the requests of a demand step are drawn at its start (a model's last use is known up to
  30 s early); last use is the reconciling process's own record (Context.last_used), one
  for all of a model's replicas. Cold starts take a fixed time per model.
- Start delay caused by batch: the time a replica waits, beyond its cold start, while it
  would fit if no job held a GPU (waiting for preempted jobs to free them, and waiting
  while something drains or checkpoints, when pending.py evicts nothing more). The
  "all causes" wait adds waiting for GPUs that inference itself holds (the static split's
  only wait). Starts at time 0 on the empty pool are left out; a replica the demand no
  longer wants before it started counts with its wait until then.
- GPU utilisation: GPUs held (by a replica starting, serving or draining, or by a job)
  over all GPU-seconds; a held GPU counts busy whatever its load. Batch GPU-hours: the
  jobs' progress at the end (completed and checkpointed work; recomputed work and start-up
  excluded).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sharing_report import Row, goal_lines, markdown_table, text_table
from sharing_sim import Simulator
from sharing_state import Knobs, Pool, Tally
from sharing_workload import DAY, MODELS, Demand, draw_demand

from chungus.lib.looplag import percentile
from chungus.scheduling.placement import GIB, Gpu, Node

DELAY_GOAL_S = 5.0
AS_IS = "shared pool (CHUNGUS)"
WHAT_IF = "shared pool without the GPU reservation"
ERR = sys.stderr


@dataclass(frozen=True, slots=True)
class Setup:
    demand: Demand
    knobs: Knobs
    nodes: tuple[Node, ...]
    seed: int


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--days", type=float, default=7.0, help="simulated days (default 7)")
    add("--gpus", type=int, default=64, help="GPUs in the cluster (default 64)")
    add("--gpus-per-node", type=int, default=8)
    add("--gib-per-gpu", type=int, default=80)
    add("--seed", type=int, default=7)
    add("--step", type=float, default=30.0, help="seconds between demand steps (default 30)")
    add("--stop-seconds", type=float, default=2.0, help="SIGTERM to GPU free (default 2)")
    add("--grace", type=float, default=30.0, help="SIGTERM to SIGKILL (default 30)")
    add("--killed-share", type=float, default=0.0, help="preemptions that end in SIGKILL")
    add("--checkpoint-minutes", type=float, default=10.0, help="periodic checkpoint interval")
    add("--resume-seconds", type=float, default=60.0, help="a resumed job's start-up")
    add("--backlog", type=int, default=64, help="queued MD replicas kept waiting")
    add("--stop-spread", type=float, default=0.5, help="stops vary by +- this share (0.5)")
    add("--static-gpus", type=int, default=0, help="inference side of the split (0: sized)")
    add("--markdown", action="store_true", help="print a block for bench/RESULTS.md")
    return parser.parse_args()


def build_nodes(gpus: int, per_node: int, gib: int) -> tuple[Node, ...]:
    counts = [per_node] * (gpus // per_node) + ([gpus % per_node] if gpus % per_node else [])
    card = gib * GIB
    return tuple(
        Node(f"n{i:02d}", tuple(Gpu(g, card) for g in range(n))) for i, n in enumerate(counts)
    )


def split(nodes: tuple[Node, ...], inference: int) -> tuple[Pool, Pool]:
    """The first `inference` GPUs (node by node) for inference, the rest for batch; a node
    cut in two becomes two declared nodes, one on each side."""
    left: list[Node] = []
    right: list[Node] = []
    for node in nodes:
        take = min(len(node.gpus), max(0, inference))
        inference -= take
        if take:
            left.append(_part(node, "i", node.gpus[:take]))
        if take < len(node.gpus):
            right.append(_part(node, "b", node.gpus[take:]))
    return Pool(tuple(left)), Pool(tuple(right))


def _part(node: Node, side: str, gpus: tuple[Gpu, ...]) -> Node:
    return Node(f"{node.name}{side}", tuple(Gpu(i, g.memory_mb) for i, g in enumerate(gpus)))


def simulate(
    setup: Setup, label: str, inference: Pool, batch: Pool | None, *, hold: bool = False
) -> Tally:
    knobs = replace(setup.knobs, hold_freed=hold)
    sim = Simulator(MODELS, setup.demand, inference, batch, knobs, setup.seed)
    started = time.monotonic()
    days = setup.demand.steps * setup.demand.step / DAY

    def report(now: float) -> None:
        took = time.monotonic() - started
        print(f"  {label}: day {now / DAY:.0f} of {days:g} ({took:.0f} s)", file=ERR)

    return sim.run(report if batch is not None else None)


def waits(tally: Tally) -> list[float]:
    return [s.wait for s in tally.starts]


def size_static(setup: Setup, alone: Tally) -> tuple[int, int]:
    """(K sized for the peak, K at the delay goal), from inference-only runs on K GPUs."""
    total = sum(len(n.gpus) for n in setup.nodes)
    worst = max(waits(alone), default=0.0)
    sized = total
    for k in range(alone.peak_inference_gpus, total):
        longest = max(waits(inference_only(setup, k)), default=0.0)
        print(f"  sizing: inference alone on {k} GPUs waits at most {longest:.0f} s", file=ERR)
        if longest <= worst + 1e-6:
            sized = k
            break
    at_goal = sized
    for k in range(sized - 1, 0, -1):
        p99 = percentile(waits(inference_only(setup, k)), 0.99)
        print(f"  sizing: inference alone on {k} GPUs: start-wait p99 {p99:.1f} s", file=ERR)
        if p99 > DELAY_GOAL_S:
            break
        at_goal = k
    return sized, at_goal


def inference_only(setup: Setup, gpus: int) -> Tally:
    return simulate(setup, f"static {gpus}", split(setup.nodes, gpus)[0], None)


def static_row(setup: Setup, gpus: int, label: str) -> Row:
    inference, batch = split(setup.nodes, gpus)
    return Row(label, gpus, batch.gpus, simulate(setup, label, inference, batch))


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "unknown CPU",
    )
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}"


def knobs_of(args: argparse.Namespace) -> Knobs:
    return Knobs(
        stop_s=args.stop_seconds,
        grace_s=args.grace,
        killed_share=args.killed_share,
        checkpoint_s=args.checkpoint_minutes * 60.0,
        resume_s=args.resume_seconds,
        backlog=args.backlog,
        stop_spread=args.stop_spread,
    )


def scenarios(setup: Setup, static_gpus: int) -> list[Row]:
    """Every scenario's row: shared (now, then before the reservation), static, inference
    alone."""
    everything = Pool(setup.nodes)
    gpus = everything.gpus
    print("inference alone on every GPU ...", file=ERR)
    alone = simulate(setup, "alone", everything, None)
    sized = at_goal = static_gpus
    if not static_gpus:
        print("sizing the static split ...", file=ERR)
        sized, at_goal = size_static(setup, alone)
    rows = [
        Row(AS_IS, gpus, 0, simulate(setup, "shared", everything, everything, hold=True)),
        Row(WHAT_IF, gpus, 0, simulate(setup, "before", everything, everything)),
        static_row(setup, sized, "static, sized for peak"),
    ]
    if at_goal != sized:
        rows.append(static_row(setup, at_goal, "static, shrunk to p99 <= 5 s"))
    return [*rows, Row("inference alone", gpus, 0, alone)]


def main() -> None:
    args = parse_args()
    knobs = knobs_of(args)
    nodes = build_nodes(args.gpus, args.gpus_per_node, args.gib_per_gpu)
    started = time.monotonic()
    setup = Setup(draw_demand(MODELS, args.days, args.step, args.seed), knobs, nodes, args.seed)
    rows = scenarios(setup, args.static_gpus)
    print(f"done in {time.monotonic() - started:.0f} s", file=ERR)
    lines = [
        f"cluster: {len(nodes)} nodes, {args.gpus} GPUs x {args.gib_per_gpu} GiB; "
        f"{args.days:g} days, demand step {args.step:g} s, seed {args.seed}",
        f"preemption: stop {knobs.stop_s:g} s +-{knobs.stop_spread:.0%}, "
        f"{knobs.killed_share:.0%} killed after {knobs.grace_s:g} s grace, checkpoints every "
        f"{args.checkpoint_minutes:g} min, resume {knobs.resume_s:g} s",
    ]
    alone = rows[-1].tally
    lines.append(
        f"inference alone holds {alone.inference_gpu_s / alone.seconds:.1f} GPUs on average, "
        f"{alone.peak_inference_gpus} at its peak"
    )
    goals = goal_lines(rows, DELAY_GOAL_S)
    if not args.markdown:
        print("\n".join([*lines, "", *text_table(rows), "", *goals]))
        return
    head = [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- command: `{shlex.join(sys.orig_argv)}`",
        *(f"- {line}" for line in lines),
    ]
    print("\n".join([*head, "", *markdown_table(rows), "", *(f"- {g}" for g in goals)]))


if __name__ == "__main__":
    main()
