"""A real single-node Slurm (Debian's slurm-wlm + munge) for tests, with fake GPU devices.

Slurm needs GPU devices to exist to offer `--gres=gpu:N`; character devices
made with `mknod … c 1 3` (the same numbers as /dev/null) stand in for the
cards, which is all Slurm checks. Everything else is the real Slurm.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from chungus.fleet.launchers.local import free_port


def ensure_munge() -> None:
    """Start munged as user munge unless it already answers."""
    if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0:
        return
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o755)  # munged wants its socket's directory open to all (our umask is 077)
    shutil.chown(run_dir, "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True)
    for _ in range(50):
        if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("munged did not start")


@dataclass
class LocalSlurm:
    root: Path
    gpus: int = 2
    controller: subprocess.Popen[bytes] | None = None
    node: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.root / "slurm.conf")}

    def start(self) -> None:
        ensure_munge()
        host = socket.gethostname().split(".")[0]
        for sub in ("state", "spool", "dev"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for index in range(self.gpus):
            device = self.root / "dev" / f"nvidia{index}"
            if not device.exists():
                os.mknod(device, 0o666 | 0o020000, os.makedev(1, 3))
        (self.root / "slurm.conf").write_text(self._conf(host))
        devices = f"{self.root}/dev/nvidia[0-{self.gpus - 1}]"
        (self.root / "gres.conf").write_text(
            f"AutoDetect=off\nNodeName={host} Name=gpu File={devices}\n"
        )
        env = {**os.environ, **self.env}
        self.controller = subprocess.Popen(
            ["slurmctld", "-D", "-c"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.node = subprocess.Popen(
            ["slurmd", "-D"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True
            )
            if state.stdout.strip() in ("idle", "mix", "alloc"):
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"Slurm did not come up: {(self.root / 'slurmctld.log').read_text()[-2000:]}"
        )

    def stop(self) -> None:
        for process in (self.node, self.controller):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def _conf(self, host: str) -> str:
        return "\n".join(
            [
                "ClusterName=chungus-test",
                f"SlurmctldHost={host}(127.0.0.1)",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                f"StateSaveLocation={self.root}/state",
                f"SlurmdSpoolDir={self.root}/spool",
                f"SlurmctldPidFile={self.root}/slurmctld.pid",
                f"SlurmdPidFile={self.root}/slurmd.pid",
                f"SlurmctldLogFile={self.root}/slurmctld.log",
                f"SlurmdLogFile={self.root}/slurmd.log",
                f"SlurmctldPort={free_port()}",
                f"SlurmdPort={free_port()}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "GresTypes=gpu",
                "ReturnToService=2",
                "MinJobAge=300",
                "MpiDefault=none",
                "JobCompType=jobcomp/none",
                "AccountingStorageType=accounting_storage/none",
                "SchedulerParameters=sched_interval=1",
                f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} "
                f"Gres=gpu:{self.gpus} State=UNKNOWN",
                f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
