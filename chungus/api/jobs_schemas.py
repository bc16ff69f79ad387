"""Request and response bodies of /api/jobs/ (pydantic, via ninja)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import StrictInt, StrictStr, StringConstraints

from chungus.api.schemas import Storable, Strict
from chungus.fleet.jobs.submit import SMALL
from chungus.lib.names import help_text

# Spelled out so the schema shows the choices; a test holds them to Tier and submit.LAUNCHERS.
TierName = Literal["batch", "background"]
LauncherName = Literal["local", "slurm", "ray"]
Rank = Annotated[StrictInt, Field(ge=-100, le=100)]
GpuCount = Annotated[StrictInt, Field(ge=0, le=SMALL)]
CoreCount = Annotated[StrictInt, Field(ge=1, le=SMALL)]
MegaBytes = Annotated[StrictInt, Field(ge=0, le=10_000_000)]
GraceSeconds = Annotated[StrictInt, Field(ge=1, le=3600)]


class JobSubmit(Strict):
    """A job to queue. In a multipart body the same fields are form fields, and `spec` is
    either one field holding a JSON object or the kind's parameters as fields of their own;
    a form value that reads as JSON (a number, true, a list) is taken as that."""

    kind: Annotated[StrictStr, StringConstraints(min_length=1, max_length=30)] = Field(
        description="the kind of job: md, ensemble or command (see GET /api/jobs/kinds/)"
    )
    spec: dict[str, Any] = Field(
        default_factory=dict,
        description="the kind's parameters, e.g. md: structure, ns, solvent, forcefield, "
        "temperature_k, timestep_fs, report_every, checkpoint_every, equilibration_ps, "
        "platform; ensemble: the md parameters and replicas, seed, rmsd_threshold_nm, "
        "max_retries; command: argv, cwd, env, output_dir",
    )
    name: Annotated[StrictStr, StringConstraints(max_length=200), Storable] = Field(
        "", description=f"your label for the job (optional; {help_text('job')})"
    )
    tier: TierName = Field(
        "batch", description="batch, or background (below batch: Folding@Home-like work)"
    )
    priority: Rank = Field(0, description="within the tier: higher first")
    gpus: GpuCount = Field(
        0, description="GPUs on one node (0: CPU only); for an ensemble, of each replica"
    )
    cpu_cores: CoreCount = 1
    memory_mb: MegaBytes = Field(0, description="per GPU; 0: the whole GPU")
    launcher: LauncherName = "local"
    grace_seconds: GraceSeconds = Field(
        30, description="after SIGTERM (preemption, cancel), seconds to checkpoint and exit"
    )


class JobOut(Schema):
    id: int
    kind: str
    name: str
    owner: str = Field(description="the owner's username")
    state: str = Field(
        description="queued, placing, running, preempting, succeeded, failed, cancelled"
    )
    reason: str = Field(description="why it is in its state, in words")
    tier: str
    priority: int
    gpus: int
    gpu_indices: list[int]
    node: str
    progress: float = Field(description="0..1")
    progress_summary: str
    attempts: int
    preemptions: int
    retries: int = Field(description="failed attempts run again from the checkpoint")
    parent_id: int | None = Field(description="the ensemble it is a replica of")
    gpu_seconds: float
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class OutputOut(Schema):
    name: str
    description: str
    media_type: str
    size_bytes: int
    url: str = Field(description="GET it to download the file")


class JobDetailOut(JobOut):
    spec: dict[str, Any] = Field(description="as the kind completed it")
    cpu_cores: int
    memory_mb: int
    launcher: str
    grace_seconds: int
    cancel_requested: bool
    exit_code: int | None
    progress_detail: dict[str, Any] = Field(description="the kind's own figures")
    events: list[dict[str, Any]] = Field(description="[{time, event, detail}], oldest first")
    outputs: list[OutputOut] = Field(description="the files there are now")
    replicas: list[JobOut] = Field(description="an ensemble's replica jobs ([] otherwise)")


class ReplicaCurves(Schema):
    replica: int = Field(description="its job id")
    state: str
    time_ns: list[float]
    rmsd_nm: list[float] = Field(description="C-alpha RMSD to the reference, per frame")
    rg_nm: list[float] = Field(description="radius of gyration of the protein's heavy atoms")
    q: list[float] = Field(description="fraction of native contacts (Best-Hummer-Eaton)")
    error: str = Field(description="why it could not be analysed, if so")


class EnsembleOut(Schema):
    job_id: int
    state: str
    reference: str = Field(description="uploaded, or the starting structure")
    summary: dict[str, Any] = Field(
        description="best_replica, lowest_rmsd_nm, below_threshold, fraction_below_threshold, "
        "mean_final_q, per_replica, not_analysed, failed"
    )
    replicas: list[ReplicaCurves]


class JobList(Schema):
    jobs: list[JobOut]


class JobReply(Schema):
    job: JobDetailOut


class LogOut(Schema):
    job_id: int
    text: str = Field(description="the last lines of job.log")
    size_bytes: int = Field(description="of the whole log")
    truncated: bool = Field(description="the log has more before `text`")


class KindOut(Schema):
    name: str
    label: str
    operator_only: bool = Field(description="only operators may submit it")
    allowed: bool = Field(description="you may submit it")


class StructureOut(Schema):
    name: str = Field(description="give it as spec.structure")
    atoms: int = Field(description="as shipped, before hydrogens and solvent are added")
    description: str


class KindList(Schema):
    kinds: list[KindOut]
    structures: list[StructureOut] = Field(description="packaged structures for md jobs")
