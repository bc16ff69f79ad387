"""A stand-in job for launcher tests: it works in ticks, and on SIGTERM writes
`checkpointed` and exits 75 (as a real job saves its work); "stubborn" ignores SIGTERM."""

from __future__ import annotations

import sys
from pathlib import Path

from chungus.engines.base import LaunchSpec

SCRIPT = """
import os, signal, sys, time
def stop(*_):
    open("checkpointed", "w").write("yes")
    sys.exit(75)
if sys.argv[1] != "stubborn":
    signal.signal(signal.SIGTERM, stop)
else:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("started in", os.getcwd(), "gpus", repr(os.environ.get("CUDA_VISIBLE_DEVICES")), flush=True)
for i in range(int(sys.argv[2])):
    print("step", i, flush=True)
    time.sleep(0.05)
sys.exit(int(sys.argv[3]))
"""


def job_spec(
    tmp_path: Path,
    mode: str = "polite",
    ticks: int = 1,
    code: int = 0,
    gpus: tuple[int, ...] = (),
    cpu_cores: str = "1",
) -> LaunchSpec:
    """A LaunchSpec running the script in tmp_path/job: `ticks` of 50 ms, then exit `code`."""
    workdir = tmp_path / "job"
    workdir.mkdir(exist_ok=True)
    script = workdir / "job.py"
    script.write_text(SCRIPT)
    return LaunchSpec(
        name=f"job-{tmp_path.name}"[:40],
        command=(sys.executable, str(script), mode, str(ticks), str(code)),
        env={"CHUNGUS_CPU_CORES": cpu_cores},
        gpus=gpus,
        cwd=str(workdir),
        log_path=str(workdir / "job.log"),
    )
