"""The sharing benchmark's simulator: CHUNGUS's own decisions on a declared pool, in simulated time.

Discrete events (demand steps, replicas ready, drains ended, preempted jobs freed, jobs
finished), and after each one a reconcile pass as the reconciler makes it:

1. every pending deployment replica, highest priority first, is placed as
   handlers/pending.py's place() does: running replicas (idle ones swappable, at
   priority - 1 - idle seconds) and jobs (JobRun.work(by_deployment=True)) on a Cluster,
   one decide() call, no eviction while anything drains or checkpoints; evicted jobs are
   preempted and the replica waits for their GPUs;
2. queued jobs are offered what is free as jobs/dispatch.py does: fair_order(), pending
   replicas' asks first, then the jobs' at placement_priority(), one decide() call.

decide(), fair_order(), placement_priority(), JobRun.work(), job_of() and drain.finished()
are CHUNGUS's functions, imported; what is mirrored here (how a pass builds the Cluster)
is named in each function's docstring with the code it mirrors.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterable
from pathlib import Path

from sharing_state import (
    HOLDING,
    Job,
    JobPhase,
    Knobs,
    Phase,
    Pool,
    Replica,
    Start,
    Tally,
    drain_seconds,
    fewest_job_evictions,
    is_killed,
)
from sharing_workload import Backlog, Demand, Model

from chungus.engines.base import LaunchSpec
from chungus.fleet.lifecycle.jobs.run import JobRun, job_of
from chungus.scheduling.fairshare import QueuedJob, fair_order, placement_priority
from chungus.scheduling.placement import Assignment, Cluster, Policy, Work, decide

SWAP_IDLE_S = 30.0  # Context.swap_idle_seconds' default
# A replica pending this long with this many jobs preempted for it will never start: the
# scenario stops there and says so (CHUNGUS would go on preempting).
LIVELOCK_S = 1_800.0
LIVELOCK_PREEMPTIONS = 50
JOB_SPEC = LaunchSpec("md-replica", ("python", "-m", "chungus.fleet.jobs.kinds.md.runner"))


class Simulator:
    """One scenario: replicas on `inference`, jobs on `batch` (the same Pool when shared)."""

    def __init__(
        self,
        models: tuple[Model, ...],
        demand: Demand,
        inference: Pool,
        batch: Pool | None,
        knobs: Knobs,
        seed: int,
    ) -> None:
        self.models, self.demand, self.knobs = models, demand, knobs
        self.inference, self.batch = inference, batch
        self.shared = batch is inference
        self.replicas = {m.name: [Replica(m, i) for i in range(m.max_replicas)] for m in models}
        self.last_used = {m.name: -math.inf for m in models}
        self.jobs: dict[int, Job] = {}  # every job submitted
        self.live: dict[int, Job] = {}  # those not done
        self.backlog = Backlog(seed)
        self.tally = Tally()
        self.events: list[tuple[float, int, Callable[[float], None]]] = []
        self.order = itertools.count()
        self.clock = 0.0
        self.held = (0, 0)  # GPUs held now by inference, by batch
        self.kill_draws = itertools.count()
        self.stops = random.Random(f"{seed}:stops")
        self.held_for: dict[str, list[tuple[str, int]]] = {}  # --hold-freed: replica -> GPUs
        # What each pending replica preempted or swapped out: it waits only for those
        # (pending.py's per-deployment rule, Context.awaiting); job ids and replica ids.
        self.waiting_on: dict[str, set[str]] = {}

    # The event loop

    def run(self, report: Callable[[float], None] | None = None) -> Tally:
        end = self.demand.steps * self.demand.step
        self._at(0.0, self._tick)
        next_report = 86_400.0
        while self.events and self.events[0][0] <= end and not self.tally.livelock:
            now = self.events[0][0]
            self._advance(now)
            while self.events and self.events[0][0] == now:  # one kick, one pass
                heapq.heappop(self.events)[2](now)
            self._reconcile(now)
            self.held = self._count_held()
            if report is not None and now >= next_report:
                report(now)
                next_report += 86_400.0
        end = self.clock if self.tally.livelock else end
        self._advance(end)
        self._close(end)
        self.tally.seconds = end
        return self.tally

    def _at(self, when: float, handler: Callable[[float], None]) -> None:
        heapq.heappush(self.events, (when, next(self.order), handler))

    def _advance(self, now: float) -> None:
        span = now - self.clock
        self.tally.inference_gpu_s += span * self.held[0]
        self.tally.batch_gpu_s += span * self.held[1]
        self.clock = now

    def _count_held(self) -> tuple[int, int]:
        cards = {(r.node, g) for r in self._all_replicas() if r.phase in HOLDING for g in r.gpus}
        self.tally.peak_inference_gpus = max(self.tally.peak_inference_gpus, len(cards))
        jobs = sum(1 for j in self.live.values() if j.run is not None)
        return len(cards), jobs

    def _close(self, end: float) -> None:
        for job in self.jobs.values():
            if job.phase is JobPhase.RUNNING:
                self._charge_start_up(job, end)
            self.tally.useful_s += job.progress_at(end)
        for replicas in self.replicas.values():
            for rep in replicas:
                if rep.phase is Phase.PENDING:  # still waiting when the week ends: counted
                    self._accrue(rep, end)
                    self._record_start(rep, end)

    def _all_replicas(self) -> Iterable[Replica]:
        return (r for replicas in self.replicas.values() for r in replicas)

    # Demand: what should run

    def _tick(self, now: float) -> None:
        step = self.demand.step
        k = round(now / step)
        for model in self.models:
            series = self.demand.series[model.name]
            self._requests(model, now, series.first[k], series.last[k])
            self._unload_if_idle(model, now)
            self._scale(model, now, series.rates[k])
        if k + 1 < self.demand.steps:
            self._at(now + step, self._tick)

    def _requests(self, model: Model, now: float, first: float, last: float) -> None:
        if last < 0:
            return
        self.last_used[model.name] = now + last
        head = self.replicas[model.name][0]
        if head.phase is Phase.STOPPED:  # the next request starts it again
            self._at(now + first, lambda t: self._want(head, t))
        elif head.phase is Phase.DRAINING and head.want_after_drain < 0:
            head.want_after_drain = now + first

    def _unload_if_idle(self, model: Model, now: float) -> None:
        """handlers/ready.py: idle for idle_timeout_s (since ready and since last used)."""
        head = self.replicas[model.name][0]
        if model.always_warm or head.phase is not Phase.READY:
            return
        idle_for = min(now - head.ready_at, now - self._last_used(model))
        if idle_for >= model.idle_timeout_s:
            self._drain(head, now, in_flight=0)

    def _scale(self, model: Model, now: float, rate: float) -> None:
        """Replicas 1.. follow the rate (what an operator's or an external autoscaler would ask:
        CHUNGUS restarts a deployment whose replica count changes, so each is its own)."""
        head = self.replicas[model.name][0]
        if model.always_warm:
            self._want(head, now)  # at time 0, and after anything stopped it
        wanted = min(model.max_replicas, max(1, math.ceil(rate / model.per_replica)))
        if head.phase is Phase.STOPPED:  # unloaded: no request for its idle timeout
            wanted = 0
        serving = sum(1 for r in self.replicas[model.name] if r.phase in HOLDING)
        for rep in self.replicas[model.name][1:]:
            if rep.index < wanted:
                rep.below_since = -1.0
                if rep.phase is Phase.STOPPED:
                    self._want(rep, now)
                continue
            if rep.phase is Phase.PENDING:  # no longer needed before it started
                self._accrue(rep, now)
                self._record_start(rep, now)
                rep.phase = Phase.STOPPED
                self.held_for.pop(rep.work_id, None)
                self.waiting_on.pop(rep.work_id, None)
            elif rep.phase is Phase.READY:
                rep.below_since = now if rep.below_since < 0 else rep.below_since
                if now - rep.below_since >= self.knobs.scale_down_s:
                    in_flight = round(rate / max(serving, 1) * self.knobs.response_s)
                    self._drain(rep, now, in_flight)

    def _want(self, rep: Replica, now: float) -> None:
        if rep.phase is not Phase.STOPPED:
            return
        rep.phase, rep.wanted_at, rep.judged_at = Phase.PENDING, now, now
        rep.batch_wait, rep.batch_blocked, rep.below_since = 0.0, False, -1.0
        rep.preempted_for = 0

    def _last_used(self, model: Model) -> float:
        """Context.last_used(): the reconciling process's own record of the last request
        (requests are spread over a model's replicas, so each saw one then)."""
        return min(self.last_used[model.name], self.clock)

    # Replicas: start, ready, drain

    def _start(self, rep: Replica, placed: Assignment, now: float) -> None:
        self._record_start(rep, now)
        self.held_for.pop(rep.work_id, None)
        self.waiting_on.pop(rep.work_id, None)
        rep.phase, rep.node, rep.gpus = Phase.STARTING, placed.node, placed.gpu_indices
        rep.epoch += 1
        epoch = rep.epoch
        self._at(now + rep.model.cold_start_s, lambda t: self._ready(rep, epoch, t))

    def _record_start(self, rep: Replica, now: float) -> None:
        if rep.wanted_at > 0:  # the first starts, on an empty pool at time 0, are left out
            wait = now - rep.wanted_at
            self.tally.starts.append(Start(rep.model.name, rep.batch_wait, wait))

    def _ready(self, rep: Replica, epoch: int, now: float) -> None:
        if rep.epoch == epoch and rep.phase is Phase.STARTING:
            rep.phase, rep.ready_at = Phase.READY, now

    def _drain(self, rep: Replica, now: float, in_flight: int) -> None:
        rep.phase = Phase.DRAINING
        rep.epoch += 1
        epoch = rep.epoch
        took = drain_seconds(in_flight, self.knobs.response_s, self.knobs.drain)
        self._at(now + took + self.knobs.engine_exit_s, lambda t: self._drained(rep, epoch, t))

    def _drained(self, rep: Replica, epoch: int, now: float) -> None:
        if rep.epoch != epoch:
            return
        rep.phase, rep.node, rep.gpus, rep.ready_at = Phase.STOPPED, "", (), -1.0
        if rep.want_after_drain >= 0:  # asked for while it drained: waits from the request
            self._want(rep, now)
            rep.wanted_at, rep.want_after_drain = rep.want_after_drain, -1.0

    # Jobs: submit, start, preempt, finish

    def _top_up(self, now: float) -> None:
        queued = sum(1 for j in self.live.values() if j.phase is JobPhase.QUEUED)
        while queued < self.knobs.backlog:
            for spec in self.backlog.ensemble():
                self.jobs[spec.id] = self.live[spec.id] = Job(spec, now)
                queued += 1

    def _start_job(self, job: Job, placed: Assignment, whole_mb: int, now: float) -> None:
        spec = job.spec
        job.run = JobRun(
            spec.id,
            spec.owner,
            kind="md",
            tier="batch",
            priority=0,
            launcher="local",
            spec=JOB_SPEC,
            handle=None,
            workdir=Path("."),
            node=placed.node,
            gpus=placed.gpu_indices,
            memory_mb=whole_mb,
        )
        job.attempts += 1
        job.phase, job.started, job.epoch = JobPhase.RUNNING, now, job.epoch + 1
        job.computes_from = now + (self.knobs.resume_s if job.attempts > 1 else 0.0)
        epoch, remaining = job.epoch, spec.work_s - job.progress
        self._at(job.computes_from + remaining, lambda t: self._finished(job, epoch, t))

    def _finished(self, job: Job, epoch: int, now: float) -> None:
        if job.epoch != epoch or job.phase is not JobPhase.RUNNING:
            return
        self._charge_start_up(job, now)
        job.progress, job.run = job.spec.work_s, None
        self._done(job)

    def _preempt(self, job: Job, now: float) -> None:
        """SIGTERM: the MD kind checkpoints and exits; one that ignores it runs until SIGKILL
        and keeps only its last periodic checkpoint."""
        knobs, tally = self.knobs, self.tally
        tally.preemptions += 1
        killed = is_killed(next(self.kill_draws), knobs.killed_share)
        finish = job.computes_from + job.spec.work_s - job.progress
        if killed:  # it goes on computing (or starting up) until SIGKILL
            tally.killed += 1
            end = min(now + knobs.grace_s, finish)
            self._charge_start_up(job, end)
            reached = job.progress_at(end)
            saved = reached if reached >= job.spec.work_s else self._checkpoint(job, reached)
            tally.recompute_s += reached - saved
        else:
            spread = knobs.stop_spread
            end = now + knobs.stop_s * self.stops.uniform(1.0 - spread, 1.0 + spread)
            saved = job.progress_at(now)
            self._charge_start_up(job, now)
            tally.overhead_s += end - now  # the GPU writes a checkpoint, then is let go
        job.phase, job.progress, job.epoch = JobPhase.STOPPING, saved, job.epoch + 1
        epoch = job.epoch
        self._at(end, lambda t: self._freed(job, epoch, t))

    def _checkpoint(self, job: Job, reached: float) -> float:
        """The last periodic checkpoint at or before `reached` (at exact multiples of the
        interval, as production.py writes them), or where this attempt resumed from."""
        every = self.knobs.checkpoint_s
        return max(job.progress, math.floor(reached / every) * every)

    def _freed(self, job: Job, epoch: int, now: float) -> None:
        if job.epoch != epoch:
            return
        job.run = None
        if job.progress >= job.spec.work_s:
            self._done(job)
        else:
            job.phase = JobPhase.QUEUED

    def _done(self, job: Job) -> None:
        job.phase = JobPhase.DONE
        self.live.pop(job.spec.id, None)
        self.tally.jobs_done += 1

    def _charge_start_up(self, job: Job, now: float) -> None:
        if job.attempts > 1:
            self.tally.overhead_s += min(now, job.computes_from) - job.started

    # The reconcile pass

    def _reconcile(self, now: float) -> None:
        pending = [r for r in self._all_replicas() if r.phase is Phase.PENDING]
        for rep in pending:
            self._accrue(rep, now)
        pending.sort(key=lambda r: (-r.model.priority, r.wanted_at, r.work_id))
        for rep in pending:
            self._place(rep, now)
        if self.batch is not None:
            self._top_up(now)
            self._dispatch(self.batch, now)
        for rep in pending:
            if rep.phase is Phase.PENDING:
                rep.batch_blocked = self._blocked_by_batch(rep, now)

    def _accrue(self, rep: Replica, now: float) -> None:
        if rep.batch_blocked:
            rep.batch_wait += now - rep.judged_at
        rep.judged_at = now

    def _replica_works(self, pool: Pool, now: float, *, swappable: bool) -> Cluster:
        """The pool's running and draining replicas on a Cluster; with `swappable`, idle ones
        may be evicted at priority - 1 - idle seconds (handlers/pending.py place())."""
        cluster = Cluster(pool.nodes)
        for rep in self._all_replicas():
            if rep.phase not in HOLDING or rep.node not in cluster.cards:
                continue
            priority, yields = rep.model.priority, False
            if swappable and rep.phase is not Phase.DRAINING and not rep.always_warm:
                idle = self._idle_seconds(rep, now)
                if idle >= SWAP_IDLE_S:
                    priority, yields = priority - 1 - int(idle), True
            work = Work(rep.work_id, len(rep.gpus), rep.memory_mb, priority, yields)
            cluster.add(work, Assignment(work.id, rep.node, rep.gpus))
        return cluster

    def _idle_seconds(self, rep: Replica, now: float) -> float:
        """handlers/pending.py _idle_seconds(): since last used, or since ready."""
        since = max(self._last_used(rep.model), rep.ready_at if rep.ready_at >= 0 else now)
        return max(0.0, now - since)

    def _job_works(self, cluster: Cluster, *, by_deployment: bool) -> None:
        for job in self.live.values():
            if job.run is not None and job.run.node in cluster.cards:
                work = job.run.work(by_deployment=by_deployment)
                cluster.add(work, Assignment(work.id, job.run.node, job.run.gpus))

    def _place(self, rep: Replica, now: float) -> None:
        """handlers/pending.py place() for a one-replica deployment."""
        cluster = self._replica_works(self.inference, now, swappable=True)
        self._job_works(cluster, by_deployment=True)
        leaving = self._leaving(cluster, rep)
        self._block_held(cluster, but=rep.work_id)
        ask = rep.ask()
        fewest = None if cluster.fit(ask, Policy.BINPACK) else fewest_job_evictions(cluster, ask)
        decision = decide(cluster, [ask], allow_eviction=not leaving)
        if decision.pending:
            return
        jobs = [j for v in decision.evictions if (j := job_of(v)) is not None]
        for job_id in jobs:
            self._preempt(self.jobs[job_id], now)
        if jobs and self.knobs.hold_freed:
            self.held_for[rep.work_id] = [
                (run.node, g) for j in jobs if (run := self.jobs[j].run) for g in run.gpus
            ]
        if jobs and fewest is not None:
            self.tally.extra_preemptions += max(0, len(jobs) - fewest)
        rep.preempted_for += len(jobs)
        self.waiting_on[rep.work_id] = {f"job:{j}" for j in jobs} | {
            v for v in decision.evictions if job_of(v) is None
        }
        self._check_livelock(rep, now)
        for victim in decision.evictions:
            if job_of(victim) is None:
                self._drain(self._replica_of(victim), now, in_flight=0)
        if not decision.evictions:
            self._start(rep, decision.assignments[0], now)

    def _check_livelock(self, rep: Replica, now: float) -> None:
        waited = now - rep.wanted_at
        if waited >= LIVELOCK_S and rep.preempted_for >= LIVELOCK_PREEMPTIONS:
            self.tally.livelock = (
                f"{rep.work_id} pending {waited / 60:.0f} min from {rep.wanted_at / 3600:.2f} h, "
                f"{rep.preempted_for} jobs preempted for it"
            )

    def _leaving(self, cluster: Cluster, asker: Replica) -> bool:
        """What `asker` preempted or swapped out still checkpoints or drains: pending.py then
        evicts nothing more for it (what others wait for does not hold it back)."""
        waiting = self.waiting_on.get(asker.work_id, set())
        for rep in self._all_replicas():
            if rep.phase is Phase.DRAINING and rep.work_id in waiting:
                return True
        return any(
            j.phase is JobPhase.STOPPING and f"job:{j.spec.id}" in waiting
            for j in self.live.values()
        )

    def _replica_of(self, work_id: str) -> Replica:
        name, index = work_id.split("#")[0].rsplit("-", 1)
        return self.replicas[name][int(index)]

    def _dispatch(self, pool: Pool, now: float) -> None:
        """jobs/dispatch.py dispatch(): queued jobs in fair-share order, after the pending
        replicas' asks, on what runs (no job preemptible by a job: there is no background)."""
        if not self._any_card_free(pool):
            return  # every job asks a whole GPU: decide() would start none (skipped for speed)
        cluster = self._replica_works(pool, now, swappable=False)
        self._job_works(cluster, by_deployment=False)
        whole = pool.whole_mb
        holding: dict[int, int] = {}
        for job in self.live.values():
            if job.run is not None:
                holding[job.spec.owner] = holding.get(job.spec.owner, 0) + 1
        queued = [j for j in self.live.values() if j.phase is JobPhase.QUEUED]
        order = fair_order(
            [QueuedJob(j.spec.id, j.spec.owner, "batch", 0, 1, j.submitted) for j in queued],
            holding,
        )
        # Each job takes one whole free GPU and may evict nothing, so those past the free
        # GPUs' count end pending whatever happens: decide() is asked only for the rest.
        self._block_held(cluster, but="")
        free = sum(1 for cards in cluster.cards.values() for c in cards if c.free >= whole)
        order = order[:free]
        asks = []  # a static split's batch side knows nothing of deployments
        if self.shared:
            asks = [r.ask() for r in self._all_replicas() if r.phase is Phase.PENDING]
        asks += [Work(f"job:{q.id}", 1, whole, placement_priority("batch", 0)) for q in order]
        stopping = any(j.phase is JobPhase.STOPPING for j in self.live.values())
        decision = decide(cluster, asks, allow_eviction=not stopping)
        for placed in decision.assignments:
            job_id = job_of(placed.work_id)
            if job_id is not None:
                self._start_job(self.jobs[job_id], placed, whole, now)

    def _block_held(self, cluster: Cluster, but: str) -> None:
        """hold_freed (CHUNGUS's GPU reservation, Context.reserved): a GPU freed by preempting
        a job for a replica still pending is held for it, from jobs and from other replicas
        (CHUNGUS holds it from jobs only: dispatch.py)."""
        for owner, cards in self.held_for.items():
            if owner == but:
                continue
            for node, index in cards:
                card = cluster.cards[node][index]
                if not card.holders:
                    work = Work(f"held:{node}:{index}", 1, card.total, 0)
                    cluster.add(work, Assignment(work.id, node, (index,)))

    def _any_card_free(self, pool: Pool) -> bool:
        names = {n.name for n in pool.nodes}
        held = {(r.node, g) for r in self._all_replicas() if r.phase in HOLDING for g in r.gpus}
        held |= {
            (j.run.node, g) for j in self.live.values() if j.run is not None for g in j.run.gpus
        }
        return sum(1 for node, _ in held if node in names) < pool.gpus

    def _blocked_by_batch(self, rep: Replica, now: float) -> bool:
        """Whether the replica would fit now if no job held a GPU: its wait is then batch's."""
        if not self.shared:
            return False
        cluster = self._replica_works(self.inference, now, swappable=False)
        return cluster.fit(rep.ask(), Policy.BINPACK) is not None
