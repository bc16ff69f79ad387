"""Folding@Home in a real `chungus serve` (reconciler tick CHUNGUS_RECONCILE_SECONDS=2, one
declared GPU, the fah-client STAND-IN): enabled by the CLI it folds on the idle GPU, is
stopped within 5 s when a batch job and then a deployment need the GPU, folds again each
time the GPU is idle, and its passkey shows in no log, answer or process list."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pytest

from chungus.fleet.lifecycle.tests.test_deployments import wait_state
from chungus.testing import fah_standin
from chungus.testing.jobs import job, wait_job
from chungus.testing.processes import ChungusProcess, chungus_instance, one_simulated_gpu

PASSKEY = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
STOP_WITHIN = 5.0


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    home = tmp_path_factory.mktemp("fah-serve")
    instance = chungus_instance(
        home, CHUNGUS_INVENTORY=str(one_simulated_gpu(home)), CHUNGUS_RECONCILE_SECONDS="2",
        CHUNGUS_FAH_BINARY=str(fah_standin.install(home / "bin")), FAH_PASSKEY=PASSKEY,
    )  # fmt: skip
    instance.start("--no-default-model")
    yield instance
    instance.stop()


def client_id(instance: ChungusProcess) -> int:
    with contextlib.closing(sqlite3.connect(instance.home / "chungus.sqlite3")) as db:
        rows = db.execute("select id from jobs_job where kind = 'fah' order by id").fetchall()
    assert len(rows) == 1, rows
    return int(rows[0][0])


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def folding(instance: ChungusProcess, attempt: int, seconds: float = 60) -> tuple[int, int]:
    """Wait for the client's attempt `attempt` to fold; its stand-in's pid and its core's."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError, FileNotFoundError, ValueError, KeyError):
            job_id = client_id(instance)
            row = job(instance, job_id)
            workdir = instance.home / "jobs" / str(job_id)
            running = row["state"] == "running" and row["attempts"] == attempt
            if (
                running
                and json.loads((workdir / "progress.json").read_text())["phase"] == "folding"
            ):
                said = json.loads((workdir / fah_standin.STATE_FILE).read_text())
                if alive(said["pid"]):
                    return int(said["pid"]), int(said["core_pid"])
        time.sleep(0.1)
    raise AssertionError(f"attempt {attempt} never folded: {job(instance, client_id(instance))}")


class Watch(threading.Thread):
    """Notes the time (Unix) at which the stand-in and its core have both ended; started
    before the command that needs the GPU, which may take longer than the stop itself."""

    def __init__(self, pids: tuple[int, int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.ended_at = pids, 0.0
        self.start()

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while any(alive(pid) for pid in self.pids) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.ended_at = time.time()

    def seconds_after(self, since: float) -> float:
        """Seconds from `since` (a row's creation) to the stop, failing past STOP_WITHIN."""
        self.join(max(0.0, since + STOP_WITHIN + 1 - time.time()))
        assert self.ended_at, "the client still folds 5 s after the GPU was asked for"
        took = self.ended_at - since
        assert took < STOP_WITHIN, f"the client stopped {took:.2f} s after (over 5 s)"
        return took


def created(instance: ChungusProcess, table: str, key: str, value: object) -> float:
    """The Unix time a row was created at (its created_at, UTC in SQLite)."""
    with contextlib.closing(sqlite3.connect(instance.home / "chungus.sqlite3")) as db:
        query = f"select created_at from {table} where {key} = ?"
        [(text,)] = db.execute(query, (value,)).fetchall()
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_it_folds_on_idle_gpus_and_yields_them_within_5_s(serve, tmp_path):
    out = serve.cli("fah", "enable", "--user", "ada", "--team", "7", "--passkey-env", "FAH_PASSKEY")
    assert "Folding@Home enabled for ada (team 7)" in out.stdout
    first = folding(serve, 1)

    script = tmp_path / "batch.py"
    script.write_text("import time\ntime.sleep(3)\n")
    watch = Watch(first)
    queued = serve.cli(
        "jobs", "submit", "command", "--gpus", "1", "--", sys.executable, str(script)
    )
    batch = int(queued.stdout.split()[2])
    took = watch.seconds_after(created(serve, "jobs_job", "id", batch))
    print(f"\nbatch job: the stand-in and its core ended {took:.2f} s after it was queued")
    assert wait_job(serve, batch, "succeeded", 60)["gpu_indices"] == [0]
    second = folding(serve, 2)
    row = job(serve, client_id(serve))
    [event] = [e for e in row["events"] if e["event"] == "preempted"]
    assert event["by"] == f"job {batch}" and event["exit_code"] == 75

    watch = Watch(second)
    serve.cli("deploy", "warm", "--source", "packaged", "--gpus", "1", "--memory-mb", "600")
    took = watch.seconds_after(created(serve, "fleet_deployment", "name", "warm"))
    print(f"deployment: the stand-in and its core ended {took:.2f} s after it was declared")
    wait_state(serve, "warm", "ready", 90)
    row = job(serve, client_id(serve))
    assert row["state"] == "queued" and "preempted by deployment warm" in row["reason"]
    serve.cli("deployments", "stop", "warm")
    wait_state(serve, "warm", "stopped", 30)
    third = folding(serve, 3)

    shown = serve.cli("fah", "status").stdout
    assert "Folding now:" in shown and "from $FAH_PASSKEY" in shown
    answers = [shown, serve.cli("fah", "status", "--json").stdout]
    answers += [
        serve.cli("jobs", "list", "--all").stdout,
        serve.cli("jobs", "show", str(client_id(serve))).stdout,
    ]
    answers.append(serve.cli("jobs", "logs", str(client_id(serve))).stdout)
    serve.create_superuser("root")
    key = serve.create_key("fah-test", "--owner", "root", "--admin")
    headers = {"Authorization": f"Bearer {key}"}
    for path in (
        "/api/jobs/",
        f"/api/jobs/{client_id(serve)}/",
        f"/api/jobs/{client_id(serve)}/log/",
    ):
        answer = httpx.get(serve.url + path, headers=headers, timeout=10)
        assert answer.status_code == 200, (path, answer.text)
        answers.append(answer.text)
    assert str(client_id(serve)) in answers[-3]
    runner = psutil.Process(third[0]).parent()
    for pid in (third[0], runner.pid):
        answers.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode())
    answers.append(serve.log.read_text())
    workdir = serve.home / "jobs" / str(client_id(serve))
    answers += [(workdir / name).read_text() for name in ("log.txt", "job.log", "spec.json")]
    assert not (workdir / "config.xml").exists()
    for answer in answers:
        assert PASSKEY not in answer

    serve.cli("fah", "disable")
    wait_job(serve, client_id(serve), "cancelled", 20)
    assert not any(alive(pid) for pid in third)
