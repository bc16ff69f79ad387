"""The command kind: any program on the GPUs CHUNGUS assigns (ColabFold, Boltz, a script).

An operator privilege (superusers, or users with the jobs.run_commands permission): it runs
what it is given as CHUNGUS's user. It gets CUDA_VISIBLE_DEVICES for its GPUs,
CHUNGUS_JOB_DIR (its directory) and CHUNGUS_OUTPUT_DIR (the declared output folder, whose
files are its outputs). Preemption sends it SIGTERM: the command decides what to save, and
exits with 75 to be resumed later (any other code ends the job). It may write progress.json
({"fraction": 0..1, "summary": "..."}) in its directory to show progress.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from chungus.fleet.jobs.kinds.base import (
    PROGRESS_FILE,
    JobCommand,
    JobKind,
    Output,
    Progress,
    SpecError,
    Upload,
    read_json,
)

KEYS = {"argv", "cwd", "env", "output_dir"}


class CommandKind(JobKind):
    name = "command"
    label = "Command"
    operator_only = True

    def validate(self, spec: dict[str, Any], upload: Upload | None) -> dict[str, Any]:
        unknown = set(spec) - KEYS
        if unknown:
            raise SpecError(f"unknown keys for a command job: {', '.join(sorted(unknown))}")
        argv = spec.get("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise SpecError("argv must be a non-empty list of strings (the command)", "argv")
        if not argv[0]:
            raise SpecError("argv[0] (the program) is empty", "argv")
        cwd = spec.get("cwd", "")
        if not isinstance(cwd, str) or (cwd and not os.path.isabs(cwd)):
            raise SpecError("cwd must be an absolute path (empty: the job's directory)", "cwd")
        if cwd and not os.path.isdir(cwd):
            raise SpecError(f"cwd {cwd!r} is not a directory", "cwd")
        env = spec.get("env", {})
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k for k, v in env.items()
        ):
            raise SpecError("env must be an object of strings", "env")
        output_dir = spec.get("output_dir", "outputs")
        path = PurePosixPath(output_dir) if isinstance(output_dir, str) else None
        if path is None or path.is_absolute() or ".." in path.parts or not output_dir:
            raise SpecError("output_dir must be a relative folder inside the job's directory",
                            "output_dir")  # fmt: skip
        if upload is not None:
            raise SpecError("a command job takes no file", "structure_file")
        return {"argv": argv, "cwd": cwd, "env": env, "output_dir": str(path)}

    def command(self, spec: dict[str, Any], workdir: Path) -> JobCommand:
        outputs = workdir / spec["output_dir"]
        outputs.mkdir(parents=True, exist_ok=True)
        env = {
            **spec["env"],
            "CHUNGUS_JOB_DIR": str(workdir),
            "CHUNGUS_OUTPUT_DIR": str(outputs),
        }
        return JobCommand(tuple(spec["argv"]), env, spec["cwd"])

    def progress(self, workdir: Path) -> Progress:
        said = read_json(workdir / PROGRESS_FILE)
        try:
            fraction = min(1.0, max(0.0, float(said.get("fraction", 0.0))))
        except (TypeError, ValueError):
            fraction = 0.0
        return Progress(fraction, str(said.get("summary", ""))[:300], said)

    def outputs(self, workdir: Path) -> list[Output]:
        spec = read_json(workdir / "spec.json")
        folder = workdir / str(spec.get("output_dir", "outputs"))
        found = [
            Output(str(p.relative_to(workdir)), "declared output")
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        ][:1000]
        if (workdir / "job.log").is_file():
            found.append(Output("job.log", "the command's output", "text/plain"))
        return found


KIND = CommandKind()
