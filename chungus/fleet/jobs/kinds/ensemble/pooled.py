"""An ensemble's pooled summary from its replicas' curves (pure; no mdtraj, no I/O).

Per replica: the lowest RMSD to the reference it reached and when, its last RMSD, its
highest and last fraction of native contacts (Q) and radius of gyration. Pooled over the
replicas that have frames: the best replica (lowest RMSD reached; ties: higher Q), the
lowest RMSD of all, and the fraction of replicas that came within the threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Curves:
    """One replica's figures per frame, as analysis.py computes them."""

    replica: int  # its job id
    state: str  # its job's state when analysed
    time_ns: list[float] = field(default_factory=list)
    rmsd_nm: list[float] = field(default_factory=list)
    rg_nm: list[float] = field(default_factory=list)
    q: list[float] = field(default_factory=list)  # fraction of native contacts, 0..1
    error: str = ""  # why it could not be analysed (no frames yet, a mismatched reference)


@dataclass(frozen=True, slots=True)
class ReplicaSummary:
    replica: int
    state: str
    frames: int
    min_rmsd_nm: float
    min_rmsd_at_ns: float
    final_rmsd_nm: float
    max_q: float
    final_q: float
    final_rg_nm: float


def replica_summary(curves: Curves) -> ReplicaSummary | None:
    """The replica's figures, None while it has no frame."""
    if not curves.rmsd_nm:
        return None
    best = min(range(len(curves.rmsd_nm)), key=curves.rmsd_nm.__getitem__)
    return ReplicaSummary(
        replica=curves.replica,
        state=curves.state,
        frames=len(curves.rmsd_nm),
        min_rmsd_nm=curves.rmsd_nm[best],
        min_rmsd_at_ns=curves.time_ns[best],
        final_rmsd_nm=curves.rmsd_nm[-1],
        max_q=max(curves.q, default=0.0),
        final_q=curves.q[-1] if curves.q else 0.0,
        final_rg_nm=curves.rg_nm[-1] if curves.rg_nm else 0.0,
    )


def pooled(replicas: list[Curves], threshold_nm: float) -> dict[str, Any]:
    """The ensemble's summary, JSON-ready; partial while replicas still run."""
    summaries = [s for c in replicas if (s := replica_summary(c)) is not None]
    out: dict[str, Any] = {
        "replicas": len(replicas),
        "analysed": len(summaries),
        "threshold_nm": threshold_nm,
        "best_replica": None,
        "lowest_rmsd_nm": None,
        "below_threshold": 0,
        "fraction_below_threshold": 0.0,
        "mean_final_q": None,
        "per_replica": [asdict(s) for s in summaries],
        "not_analysed": [
            {"replica": c.replica, "state": c.state, "why": c.error or "no frames yet"}
            for c in replicas
            if not c.rmsd_nm
        ],
    }
    if not summaries:
        return out
    best = min(summaries, key=lambda s: (s.min_rmsd_nm, -s.max_q, s.replica))
    below = sum(1 for s in summaries if s.min_rmsd_nm < threshold_nm)
    out.update(
        best_replica=best.replica,
        lowest_rmsd_nm=best.min_rmsd_nm,
        below_threshold=below,
        fraction_below_threshold=below / len(summaries),
        mean_final_q=sum(s.final_q for s in summaries) / len(summaries),
    )
    return out
