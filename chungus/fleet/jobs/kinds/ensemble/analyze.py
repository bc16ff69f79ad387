"""The ensemble's analysis step: `python -m chungus.fleet.jobs.kinds.ensemble.analyze`,
run by the parent job in its directory once every replica has ended.

Reads spec.json (with the replicas' job ids), analyses each replica's directory (a sibling
of this one: CHUNGUS_HOME/jobs/<id>/), and writes analysis.json (curves and the pooled
summary), replicas.csv and progress.json. Never imports Django.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from chungus.fleet.jobs.kinds.base import (
    ERROR_FILE,
    PROGRESS_FILE,
    SPEC_FILE,
    read_json,
    write_json,
)
from chungus.fleet.jobs.kinds.ensemble import analysis
from chungus.fleet.jobs.kinds.ensemble.kind import ANALYSIS_FILE, SUMMARY_FILE
from chungus.fleet.jobs.kinds.ensemble.pooled import Curves, pooled

FAILED = 1
STATES_FILE = "replica_states.json"  # {job id: state}, written by the scheduler before this runs
NOT_POOLED = frozenset({"failed", "cancelled", "incomplete"})  # ended without finishing


def replica_state(workdir: Path) -> str:
    """What a replica's files say of how it ended, when the scheduler's STATES_FILE does not
    (the analysis has no database)."""
    if (workdir / ERROR_FILE).is_file():
        return "failed"
    if read_json(workdir / PROGRESS_FILE).get("phase") == "done":
        return "succeeded"
    return "incomplete"


def frame_ns(md: dict[str, Any]) -> float:
    """Simulated nanoseconds between two frames of a replica's trajectory."""
    return float(md["report_every"]) * float(md["timestep_fs"]) * 1e-6


def analyse_all(
    workdir: Path,
    spec: dict[str, Any],
    on_replica: Any = None,
    states: dict[int, str] | None = None,
) -> dict[str, Any]:
    """Every replica's curves and the pooled summary, JSON-ready: pooled over the replicas
    that finished or still run (`states`, the database's, when known; else what each
    replica's files say). `on_replica(done, total)` is told after each replica."""
    reference = workdir / spec["reference_file"] if spec.get("reference_file") else None
    ids: list[int] = spec.get("replica_ids") or []
    curves: list[Curves] = []
    for done, replica in enumerate(ids, start=1):
        rdir = workdir.parent / str(replica)
        state = (states or {}).get(replica) or replica_state(rdir)
        curves.append(analysis.analyse(replica, state, rdir, reference, frame_ns(spec["md"])))
        if on_replica is not None:
            on_replica(done, len(ids))
    summary = pooled([c for c in curves if c.state not in NOT_POOLED], spec["rmsd_threshold_nm"])
    summary["replicas"] = len(curves)
    summary["failed"] = [c.replica for c in curves if c.state == "failed"]
    return {
        "summary": summary,
        "replicas": [
            {"replica": c.replica, "state": c.state, "time_ns": c.time_ns, "rmsd_nm": c.rmsd_nm,
             "rg_nm": c.rg_nm, "q": c.q, "error": c.error}
            for c in curves
        ],
        "reference": "uploaded" if reference else "the starting structure",
    }  # fmt: skip


def summary_csv(result: dict[str, Any]) -> str:
    out = io.StringIO()
    fields = ["replica", "state", "frames", "min_rmsd_nm", "min_rmsd_at_ns", "final_rmsd_nm",
              "max_q", "final_q", "final_rg_nm"]  # fmt: skip
    writer = csv.DictWriter(out, fields, extrasaction="ignore")
    writer.writeheader()
    for row in result["summary"]["per_replica"]:
        writer.writerow(row)
    return out.getvalue()


def headline(summary: dict[str, Any]) -> str:
    """One line for the job list: how the ensemble came out."""
    if summary["best_replica"] is None:
        return "Done: no replica could be analysed"
    count = summary["analysed"]
    return (
        f"Done: {count} replica{'s' if count != 1 else ''}, best {summary['best_replica']} at "
        f"{summary['lowest_rmsd_nm']:.3f} nm; {summary['below_threshold']} of "
        f"{summary['analysed']} below {summary['threshold_nm']:g} nm"
    )


def main() -> int:
    workdir = Path.cwd()
    spec = read_json(workdir / SPEC_FILE)
    if not spec.get("replica_ids"):
        write_json(workdir / ERROR_FILE, {"message": f"no replicas listed in {SPEC_FILE}"})
        return FAILED

    def told(done: int, total: int) -> None:
        write_json(
            workdir / PROGRESS_FILE,
            {"fraction": done / total, "summary": f"Analysing replica {done} of {total}"},
        )

    states = {int(k): str(v) for k, v in read_json(workdir / STATES_FILE).items()}
    result = analyse_all(workdir, spec, told, states)
    (workdir / f".{ANALYSIS_FILE}.tmp").write_text(json.dumps(result))
    (workdir / f".{ANALYSIS_FILE}.tmp").replace(workdir / ANALYSIS_FILE)
    (workdir / SUMMARY_FILE).write_text(summary_csv(result))
    summary = result["summary"]
    write_json(
        workdir / PROGRESS_FILE,
        {"fraction": 1.0, "summary": headline(summary), "phase": "done",
         "best_replica": summary["best_replica"], "lowest_rmsd_nm": summary["lowest_rmsd_nm"]},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
