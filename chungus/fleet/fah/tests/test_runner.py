"""The runner with the fah-client STAND-IN (chungus/testing/fah_standin.py): it sets up one
resource group over the visible GPUs, removes the config file once it is read, stops the
client on SIGTERM and exits 75 (resumable), and says why when the client cannot start."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from chungus.fleet.fah.client_config import render, write
from chungus.testing import fah_standin

PASSKEY = "abcdefabcdefabcdefabcdefabcdef12"


def start(workdir: Path, binary: Path, gpus: str = "2") -> subprocess.Popen[bytes]:
    workdir.mkdir(exist_ok=True)
    write(workdir / "config.xml", render("ada", 7, PASSKEY))
    argv = [sys.executable, "-m", "chungus.fleet.fah.runner", "--binary", str(binary),
            "--config", "config.xml", "--cpus", "1"]  # fmt: skip
    return subprocess.Popen(
        argv, cwd=workdir, env={**os.environ, "CUDA_VISIBLE_DEVICES": gpus},
        stdout=(workdir / "job.log").open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,  # as the local launcher starts it: SIGTERM goes to its group
    )  # fmt: skip


def wait_folding(workdir: Path, runner: subprocess.Popen[bytes], seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    progress = workdir / "progress.json"
    while not (progress.exists() and json.loads(progress.read_text())["phase"] == "folding"):
        assert runner.poll() is None, (workdir / "job.log").read_text()
        assert time.monotonic() < deadline, (workdir / "job.log").read_text()
        time.sleep(0.05)
    return json.loads(progress.read_text())


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture
def binary(tmp_path):
    return fah_standin.install(tmp_path / "bin")


def test_it_folds_on_the_visible_gpus_and_stops_on_sigterm_resumably(tmp_path, binary):
    workdir = tmp_path / "job"
    runner = start(workdir, binary)
    try:
        progress = wait_folding(workdir, runner)
        assert (progress["group"], progress["fah_gpus"]) == ("chungus-gpu-2", ["gpu:03:00:00"])
        said = json.loads((workdir / fah_standin.STATE_FILE).read_text())
        assert said["passkey_sha256"] == hashlib.sha256(PASSKEY.encode()).hexdigest()
        assert (said["user"], said["team"], said["cpus"]) == ("ada", "7", "0")
        assert not (workdir / "config.xml").exists()
        commands = [json.loads(line) for line in (workdir / fah_standin.COMMANDS_FILE).open()]
        groups = commands[0]["config"]["groups"]
        assert groups["chungus-gpu-2"]["gpus"] == {"gpu:03:00:00": {"enabled": True}}
        assert fah_standin.OTHER_GPU not in json.dumps(commands) and groups[""]["cpus"] == 0
        for pid in (said["pid"], runner.pid):
            assert PASSKEY not in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        asked = time.monotonic()
        os.killpg(runner.pid, signal.SIGTERM)  # as the launcher stops a job
        assert runner.wait(5) == 75
        print(f"\nrunner and stand-in ended {time.monotonic() - asked:.2f} s after SIGTERM")
        assert (
            not psutil.pid_exists(said["pid"]) or psutil.Process(said["pid"]).status() == "zombie"
        )
        log = (workdir / "log.txt").read_text() + (workdir / "job.log").read_text()
        assert "Clean exit" in log and "resumable" in log and PASSKEY not in log
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)


def test_sigterm_to_the_runner_alone_is_passed_to_the_client(tmp_path, binary):
    workdir = tmp_path / "job"
    runner = start(workdir, binary)
    try:
        wait_folding(workdir, runner)
        pid = json.loads((workdir / fah_standin.STATE_FILE).read_text())["pid"]
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(5) == 75
        assert not alive(pid)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)


def test_a_client_that_cannot_start_fails_with_the_reason(tmp_path):
    workdir = tmp_path / "job"
    runner = start(workdir, tmp_path / "no-such-fah-client")
    assert runner.wait(20) == 1
    said = json.loads((workdir / "error.json").read_text())["message"]
    assert said.startswith("cannot start the Folding@Home client ") and "No such file" in said
    assert not (workdir / "config.xml").exists()


def test_a_client_that_ends_by_itself_ends_the_job_with_its_code(tmp_path, binary):
    workdir = tmp_path / "job"
    runner = start(workdir, binary)
    try:
        wait_folding(workdir, runner)
        said = json.loads((workdir / fah_standin.STATE_FILE).read_text())
        time.sleep(1.5)  # the runner has seen the client's core
        os.kill(said["pid"], signal.SIGKILL)
        assert runner.wait(5) == 137
        assert "the client exited by itself with code -9" in (workdir / "job.log").read_text()
        assert not alive(said["core_pid"])
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
