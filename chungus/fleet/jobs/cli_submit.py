"""`chungus jobs submit md|ensemble|command`: their options, and the Submission they make.

The options only carry what was typed: the kind fills in its defaults and refuses what it
cannot run (submit.submit answers both), so the CLI, the API and the dashboard agree.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from chungus.core.commandline import OneLineParser
from chungus.fleet.jobs.kinds.base import Upload
from chungus.fleet.jobs.kinds.md import spec as md_spec
from chungus.fleet.jobs.models import Tier
from chungus.fleet.jobs.submit import LAUNCHERS, JobRefused, Submission
from chungus.lib.names import help_text

# md options → the md kind's spec keys (only those given are sent; the kind fills the rest).
MD_NUMBERS: tuple[tuple[str, str, type, str], ...] = (
    ("--ns", "ns", float, "nanoseconds of production to simulate"),
    ("--temperature", "temperature_k", float, "kelvin"),
    ("--timestep-fs", "timestep_fs", float, "integration step, femtoseconds"),
    ("--equilibration-ps", "equilibration_ps", float, "picoseconds of equilibration first"),
    ("--report-every", "report_every", int, "steps between frames (default: about 100 frames)"),
    ("--checkpoint-every", "checkpoint_every", int,
     f"steps between checkpoints, where a preempted run resumes "
     f"(default {md_spec.DEFAULT_CHECKPOINT_EVERY})"),
)  # fmt: skip
MD_CHOICES = (("--forcefield", "forcefield"), ("--solvent", "solvent"), ("--platform", "platform"))
MD_KEYS = ("structure", *(key for _, key, _, _ in MD_NUMBERS), *(key for _, key in MD_CHOICES))
ENSEMBLE_KEYS = ("replicas", "seed", "rmsd_threshold_nm", "max_retries")


def add_submit(sub: Any, common: OneLineParser) -> None:
    """Add `submit md`, `submit ensemble` and `submit command` under the `submit` parser."""
    submit = sub.add_parser("submit", help="queue a job (md, ensemble or command)")
    kinds = submit.add_subparsers(
        dest="kind", required=True, parser_class=OneLineParser, metavar="{md,ensemble,command}"
    )
    md = kinds.add_parser(
        "md",
        parents=[common, _resources()],
        help="molecular dynamics with OpenMM",
        description="Queue an OpenMM molecular-dynamics job: a packaged structure "
        "(--structure) or your own PDB/mmCIF (--file). Unset options take the md kind's "
        "defaults.",
    )
    _md_options(md)
    ensemble = kinds.add_parser(
        "ensemble",
        parents=[common, _resources(per_replica=True)],
        help="N independent MD replicas of one structure, then their analysis",
        description="Queue an ensemble: --replicas MD jobs of one structure, each with its own "
        "seed (initial velocities and thermostat noise), placed, preempted and resumed on its "
        "own anywhere in the pool. When they end, an analysis step computes each replica's "
        "RMSD to the reference (--reference, else the starting structure), radius of gyration "
        "and fraction of native contacts, and the pooled summary.",
    )
    _md_options(ensemble)
    ensemble.add_argument("--replicas", type=int, help="how many replicas (default 4)")
    ensemble.add_argument(
        "--reference", type=Path, help="the native structure (PDB) to measure RMSD and Q against"
    )
    ensemble.add_argument(
        "--seed", type=int, help="the first replica's seed; the others count up (default random)"
    )
    ensemble.add_argument(
        "--rmsd-threshold", type=float, dest="rmsd_threshold_nm", metavar="NM",
        help="RMSD counted as reached in the pooled summary (default 0.3 nm)",
    )  # fmt: skip
    ensemble.add_argument(
        "--max-retries", type=int, dest="max_retries",
        help="times a failed replica runs again from its checkpoint (default 2)",
    )  # fmt: skip
    command = kinds.add_parser(
        "command",
        parents=[common, _resources()],
        help="any program (operators only)",
        description="Queue any program on the GPUs CHUNGUS assigns (operators only). It "
        "gets CUDA_VISIBLE_DEVICES, CHUNGUS_JOB_DIR and CHUNGUS_OUTPUT_DIR; on SIGTERM it "
        "may save its work and exit 75 to be resumed. Put the command after --.",
    )
    command.add_argument("--cwd", type=Path, help="its working directory (default: the job's)")
    command.add_argument(
        "--env", type=_pair, action="append", default=[], metavar="K=V",
        help="an environment variable for it (repeatable)",
    )  # fmt: skip
    command.add_argument(
        "--output-dir", help="the folder, inside the job's directory, whose files are its outputs"
    )
    command.add_argument(
        "argv", nargs="+", metavar="ARG", help="the command and its arguments, after --"
    )


def _md_options(md: OneLineParser) -> None:
    md.add_argument(
        "--structure", help="a packaged structure, e.g. villin (see: chungus jobs structures)"
    )
    for option, key, kind, text in MD_NUMBERS:
        default = md_spec.NUMBERS[key][0] if key in md_spec.NUMBERS else None
        help_ = text + (f" (default {default:g})" if default else "")
        metavar = option.removeprefix("--").upper().replace("-", "_")
        md.add_argument(option, dest=key, type=kind, metavar=metavar, help=help_)
    for option, key in MD_CHOICES:
        allowed = md_spec.CHOICES[key]
        md.add_argument(option, dest=key, choices=allowed, help=f"default {allowed[0]}")
    md.add_argument("--file", type=Path, help="your own structure, a PDB or PDBx/mmCIF file")


def _resources(per_replica: bool = False) -> OneLineParser:
    parser = OneLineParser(add_help=False)
    if per_replica:
        parser.add_argument(
            "--gpus-per-replica", "--gpus", dest="gpus", type=int, default=0,
            help="GPUs of each replica, on one node (default 0: CPU)",
        )  # fmt: skip
    else:
        parser.add_argument("--gpus", type=int, default=0, help="GPUs on one node (default 0: CPU)")
    parser.add_argument("--cpu-cores", type=int, default=1, help="CPU cores (default 1)")
    parser.add_argument(
        "--memory-mb", type=int, default=0, help="memory per GPU (default 0: the whole GPU)"
    )
    parser.add_argument(
        "--priority", choices=Tier.values, default=Tier.BATCH,
        help="tier: batch, or background below it (default batch)",
    )  # fmt: skip
    parser.add_argument(
        "--rank", type=int, default=0, help="priority within the tier, -100..100: higher first"
    )
    parser.add_argument("--launcher", choices=LAUNCHERS, default="local", help="default local")
    parser.add_argument(
        "--grace", type=int, default=30,
        help="seconds after SIGTERM to checkpoint and exit (default 30)",
    )  # fmt: skip
    parser.add_argument(
        "--name", default="", help=f"your label for the job (optional; {help_text('job')})"
    )
    return parser


def submission(options: dict[str, Any]) -> Submission:
    """The Submission the parsed options ask for; JobRefused if a file cannot be read."""
    reference = None
    if options["kind"] in ("md", "ensemble"):
        keys = MD_KEYS if options["kind"] == "md" else (*MD_KEYS, *ENSEMBLE_KEYS)
        spec = {key: options[key] for key in keys if options[key] is not None}
        upload = _read(options["file"], "file") if options["file"] else None
        if options.get("reference"):
            reference = _read(options["reference"], "reference_file")
    else:
        spec = {"argv": _argv(options["argv"]), "env": dict(options["env"])}
        if options["cwd"] is not None:
            spec["cwd"] = str(options["cwd"].expanduser().resolve())
        if options["output_dir"] is not None:
            spec["output_dir"] = options["output_dir"]
        upload = None
    return Submission(
        kind=options["kind"], spec=spec, upload=upload, name=options["name"],
        tier=options["priority"], priority=options["rank"], gpus=options["gpus"],
        memory_mb=options["memory_mb"], cpu_cores=options["cpu_cores"],
        launcher=options["launcher"], grace_seconds=options["grace"], reference=reference,
    )  # fmt: skip


def _read(path: Path, param: str) -> Upload:
    try:
        return Upload(filename=path.name, data=path.read_bytes())
    except OSError as exc:
        raise JobRefused(f"cannot read {path}: {exc.strerror or exc}", 400, param) from None


def _argv(argv: list[str]) -> list[str]:
    return argv[1:] if argv and argv[0] == "--" else argv


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not K=V")
    return key, value
