"""Ensembles: a parent job and its replica MD jobs (kinds/ensemble), made and followed.

submit_ensemble(user, ask)   the parent and its N replicas, in one transaction
follow(parents)              each scheduler tick, for the queued parents: their progress is
                             their replicas'; those whose replicas have all ended run their
                             analysis (or fail, when no replica succeeded)
partial(job)                 the analysis of what the replicas have written so far
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db import transaction

from chungus.fleet.jobs.files import job_dir
from chungus.fleet.jobs.kinds.base import SPEC_FILE, SpecError, read_json, write_json
from chungus.fleet.jobs.kinds.ensemble import analyze
from chungus.fleet.jobs.kinds.ensemble import kind as ensemble
from chungus.fleet.jobs.kinds.ensemble.spec import replica_spec
from chungus.fleet.jobs.kinds.md import kind as md
from chungus.fleet.jobs.models import Job
from chungus.fleet.jobs.queueing import JobRefused, Submission, check_queue, new_workdir
from chungus.fleet.states import JOB_FINAL, JobState

Row = dict[str, Any]
ORDER = ("running", "preempting", "placing", "queued", "succeeded", "failed", "cancelled")


def submit_ensemble(user: Any, ask: Submission) -> Job:
    """Queue an ensemble for `user`: the parent (its analysis, on one CPU core) and one MD
    job a replica, each with the asked GPUs and launcher. JobRefused (4xx) if it cannot be."""
    try:
        spec = ensemble.KIND.validate_with_reference(ask.spec, ask.upload, ask.reference)
    except SpecError as exc:
        raise JobRefused(str(exc), 400, exc.param) from None
    count = spec["replicas"]
    with transaction.atomic():
        check_queue(user, count + 1)
        parent = Job.objects.create(
            owner=user, kind=ensemble.KIND.name, name=ask.name[:200], spec=spec,
            tier=ask.tier, priority=ask.priority, gpus=0, cpu_cores=1, launcher="local",
            reason=f"queued: waiting for its {count} replicas",
        )  # fmt: skip
        replicas = [_replica(user, parent, ask, spec, i) for i in range(count)]
        spec["replica_ids"] = [r.pk for r in replicas]
        Job.objects.filter(pk=parent.pk).update(spec=spec)
        parent.spec = spec
        workdir = new_workdir(parent.pk)
        ensemble.KIND.save_inputs(spec, ask.upload, workdir)
        if ask.reference is not None:
            ensemble.KIND.save_reference(spec, ask.reference, workdir)
        write_json(workdir / SPEC_FILE, spec)
        for replica in replicas:
            rdir = new_workdir(replica.pk)
            md.KIND.save_inputs(replica.spec, ask.upload, rdir)
            write_json(rdir / SPEC_FILE, {**replica.spec, "cpu_cores": ask.cpu_cores})
    return parent


def _replica(user: Any, parent: Job, ask: Submission, spec: dict[str, Any], i: int) -> Job:
    count = spec["replicas"]
    return Job.objects.create(
        owner=user, kind=md.KIND.name, parent=parent, spec=replica_spec(spec, i),
        name=f"{ask.name}-{i + 1}"[:200] if ask.name else "", tier=ask.tier,
        priority=ask.priority, gpus=ask.gpus, memory_mb=ask.memory_mb,
        cpu_cores=ask.cpu_cores, launcher=ask.launcher, grace_seconds=ask.grace_seconds,
        max_retries=spec["max_retries"],
        reason=f"queued: replica {i + 1} of {count}, waiting for the scheduler",
    )  # fmt: skip


def counts_line(states: Counter[str]) -> str:
    """ "2 of 4 replicas done · 1 running · 1 queued" (pure)."""
    total = sum(states.values())
    parts = [f"{states['succeeded']} of {total} replicas done"]
    parts += [f"{states[s]} {s}" for s in ORDER if s != "succeeded" and states[s]]
    return " · ".join(parts)


def outcome(states: Counter[str]) -> JobState | None:
    """What a parent does once no replica is left running (pure): QUEUED to run its
    analysis, FAILED or CANCELLED when no replica succeeded; None while some still run."""
    if any(states[s] for s in states if s not in JOB_FINAL):
        return None
    if states["succeeded"]:
        return JobState.QUEUED
    if states["failed"]:
        return JobState.FAILED
    return JobState.CANCELLED


def follow(parents: list[Row]) -> set[int]:
    """Write each queued parent's progress from its replicas; the ids of those ready to run
    their analysis. Parents none of whose replicas succeeded end here."""
    if not parents:
        return set()
    by_parent: dict[int, list[Row]] = {p["id"]: [] for p in parents}
    fields = ("id", "parent_id", "state", "progress")
    for row in Job.objects.filter(parent_id__in=list(by_parent)).values(*fields):
        by_parent[row["parent_id"]].append(row)
    ready: set[int] = set()
    for parent in parents:
        replicas = by_parent[parent["id"]]
        states = Counter(r["state"] for r in replicas)
        done = sum(1.0 if r["state"] == JobState.SUCCEEDED else r["progress"] for r in replicas)
        fraction = done / len(replicas) if replicas else 0.0
        line = counts_line(states)
        after = outcome(states) if replicas else JobState.FAILED
        if after == JobState.QUEUED:
            ready.add(parent["id"])
            line = f"{line}; analysing"
            ended = {str(r["id"]): r["state"] for r in replicas}  # how each ended, for it
            write_json(job_dir(parent["id"]) / analyze.STATES_FILE, ended)
        elif after is not None:
            why = "no replica succeeded" if replicas else "it has no replicas"
            Job.objects.filter(pk=parent["id"]).move_state(
                "state", JobState, after, f"job {parent['id']}", reason=f"{why}: {line}"
            )
            continue
        if (round(parent["progress"], 4), parent["progress_summary"]) != (round(fraction, 4), line):
            Job.objects.filter(pk=parent["id"]).update(
                progress=fraction, progress_summary=line[:300],
                reason=f"queued: waiting for its replicas ({line})"[:1000],
            )  # fmt: skip
    return ready


def partial(job: Job) -> dict[str, Any]:
    """The ensemble's analysis now: the analysis step's file once it has run, else what the
    replicas have written so far (each replica's curves are cached by its files' stamps)."""
    workdir = job_dir(job.pk)
    if job.state == JobState.SUCCEEDED:
        done = read_json(workdir / ensemble.ANALYSIS_FILE)
        if done:
            return done
    states = dict(Job.objects.filter(parent=job).values_list("pk", "state"))
    return analyze.analyse_all(workdir, job.spec, states=states)
