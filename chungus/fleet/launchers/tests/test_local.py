"""The local launcher and its supervisor, on a real llama-server with the packaged model."""

import asyncio
import dataclasses
import json
import os
import signal
import stat
import subprocess
import sys

import httpx
import psutil
import pytest

from chungus.engines.llamacpp.server import (
    LlamaServerOptions,
    llama_server_binary,
    llama_server_command,
)
from chungus.engines.packaged import packaged_gguf
from chungus.fleet.launchers.base import LaunchSpec, LaunchState
from chungus.fleet.launchers.local import LocalLauncher, free_port, progress
from chungus.fleet.lifecycle.supervisor import Supervisor, backoff_delay
from chungus.testing.launching import wait_for_launch


def spec(home, name="gemma"):
    port = free_port()
    command = llama_server_command(
        llama_server_binary(), packaged_gguf(home), port, LlamaServerOptions(alias=name)
    )
    return LaunchSpec(name=name, command=command, port=port)


def test_backoff_doubles_and_is_capped():
    assert [backoff_delay(n, cap=8) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]


async def test_it_launches_polls_and_terminates_idempotently(models_home, tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    handle = await launcher.launch(spec(models_home))
    status = await wait_for_launch(launcher, handle, LaunchState.READY)
    assert httpx.get(f"{status.address}/health").status_code == 200
    await launcher.terminate(handle)
    await launcher.terminate(handle)
    assert (await launcher.poll(handle)).state is LaunchState.STOPPED
    assert handle.process.returncode is not None


async def test_it_reports_an_engine_that_exits_with_its_last_log_lines(tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    handle = await launcher.launch(
        LaunchSpec(
            name="broken",
            command=(str(llama_server_binary()), "--model", "/nonexistent.gguf"),
            port=free_port(),
        )
    )
    status = await wait_for_launch(launcher, handle, LaunchState.EXITED)
    assert "exit code" in status.detail and "nonexistent" in status.detail
    await launcher.terminate(handle)


async def test_the_supervisor_restarts_a_killed_engine_on_the_same_port(models_home, tmp_path):
    addresses = []

    async def on_ready(address):
        addresses.append(address)

    supervisor = Supervisor(
        LocalLauncher(tmp_path / "logs"), spec(models_home), on_ready, backoff_cap=1
    )
    task = asyncio.create_task(supervisor.run())
    try:
        await asyncio.wait_for(supervisor.ready.wait(), 60)
        os.killpg(supervisor._handle.process.pid, signal.SIGKILL)
        for _ in range(100):
            if supervisor.status.restarts:
                break
            await asyncio.sleep(0.1)
        await asyncio.wait_for(supervisor.ready.wait(), 60)
        assert supervisor.status.restarts == 1
        assert len(addresses) == 2 and addresses[0] == addresses[1]
        assert httpx.get(f"{addresses[1]}/health").status_code == 200
    finally:
        handle = supervisor._handle
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert supervisor.status.state == "stopped" and supervisor._handle is None
    assert handle.process.returncode is not None


OWNER = """
import asyncio, sys
from pathlib import Path
from chungus.fleet.launchers.base import LaunchSpec
from chungus.fleet.launchers.local import LocalLauncher

async def main():
    launcher = LocalLauncher(Path(sys.argv[1]))
    handle = await launcher.launch(LaunchSpec("sleeper", ("sleep", "600"), 1))
    print(handle.process.pid, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_an_engine_ends_when_the_chungus_that_started_it_is_killed(tmp_path):
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    engine = psutil.Process(int(owner.stdout.readline()))
    owner.kill()
    owner.wait()
    engine.wait(10)
    assert not engine.is_running()


async def test_a_starting_engine_shows_what_it_last_logged(tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    script = "echo 'pulling manifest'; printf 'pulling 12%%\\rpulling 42%%\\n'; sleep 30"
    handle = await launcher.launch(LaunchSpec("puller", ("sh", "-c", script), free_port()))
    try:
        for _ in range(50):
            status = await launcher.poll(handle)
            if "42" in status.detail:
                break
            await asyncio.sleep(0.1)
        assert status.state is LaunchState.STARTING
        assert status.detail == "waiting for the health check: pulling 42%"
    finally:
        await launcher.terminate(handle)


def test_progress_is_the_last_log_line_without_llama_cpp_timestamps(tmp_path):
    log = tmp_path / "engine.log"
    log.write_text("0.00.006.757 I srv    load_model: loading model 'x.gguf'\n\n")
    assert progress(log) == "srv load_model: loading model 'x.gguf'"
    assert progress(tmp_path / "missing.log") == ""


async def test_a_launcher_that_raises_is_a_failed_start_not_a_dead_supervisor(tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    missing = LaunchSpec("missing", ("/nonexistent/engine",), free_port())

    async def on_ready(address):
        raise AssertionError("never ready")

    supervisor = Supervisor(launcher, missing, on_ready, backoff_cap=0.1)
    task = asyncio.create_task(supervisor.run())
    try:
        for _ in range(100):
            if supervisor.status.failures >= 2:
                break
            await asyncio.sleep(0.05)
        assert supervisor.status.failures >= 2 and not task.done()
        assert supervisor.last_exit.startswith("FileNotFoundError")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class SlowToAnswerLauncher(LocalLauncher):
    """The local launcher, but `launch` answers a second after the engine has started."""

    async def launch(self, spec):
        handle = await super().launch(spec)
        self.started = handle
        await asyncio.sleep(1)
        return handle


async def test_an_engine_stopped_while_it_launches_is_ended_too(tmp_path):
    launcher = SlowToAnswerLauncher(tmp_path / "logs")
    sleeper = LaunchSpec("sleeper", ("sleep", "600"), free_port())

    async def on_ready(address):
        raise AssertionError("never ready")

    task = asyncio.create_task(Supervisor(launcher, sleeper, on_ready).run())
    await asyncio.sleep(0.5)  # the engine runs; launch has not answered yet
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert launcher.started.process.returncode is not None


PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"
SECRETS = {
    "DATABASE_URL": "postgres://chungus:pw@db/chungus",
    "REDIS_URL": "redis://:pw@redis:6379/0",
    "CHUNGUS_SECRET_KEY": "django-secret",
}


async def run_to_end(launcher, spec):
    handle = await launcher.launch(spec)
    status = await wait_for_launch(launcher, handle, LaunchState.EXITED)
    await launcher.terminate(handle)
    return status, handle


async def test_an_engine_gets_the_allow_listed_environment_without_chungus_secrets(
    tmp_path, monkeypatch
):
    for name, value in {**SECRETS, "SITE_LICENSE": "lic", "HF_TOKEN": "hf"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CHUNGUS_ENGINE_ENV", "SITE_LICENSE")
    launcher = LocalLauncher(tmp_path / "logs")
    probe = LaunchSpec(
        name="env-probe", command=(sys.executable, "-c", PRINT_ENV), port=free_port(),
        env={"OLLAMA_HOST": "127.0.0.1:1"},
    )  # fmt: skip
    _, handle = await run_to_end(launcher, probe)
    seen = json.loads(handle.log_path.read_text())
    assert not set(SECRETS) & set(seen), "a CHUNGUS secret reached the engine"
    assert "HF_TOKEN" not in seen  # only for an engine that downloads from the Hub
    assert seen["PATH"] == os.environ["PATH"] and seen["OLLAMA_HOST"] == "127.0.0.1:1"
    assert seen["SITE_LICENSE"] == "lic"  # named by the operator in CHUNGUS_ENGINE_ENV
    _, handle = await run_to_end(
        launcher, dataclasses.replace(probe, name="hub-probe", pass_env=("HF_TOKEN",))
    )
    assert json.loads(handle.log_path.read_text())["HF_TOKEN"] == "hf"


async def test_an_engine_log_is_private_and_never_named_after_a_bad_name(tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    probe = LaunchSpec(name="quiet", command=("true",), port=free_port())
    _, handle = await run_to_end(launcher, probe)
    assert handle.log_path == tmp_path / "logs" / "quiet.log"
    assert stat.S_IMODE(handle.log_path.stat().st_mode) == 0o600
    for bad in ("../escaped", "x\nrm -rf /"):
        with pytest.raises(ValueError, match="may hold only"):
            await launcher.launch(dataclasses.replace(probe, name=bad))
    assert not (tmp_path / "escaped.log").exists()
    by_id = dataclasses.replace(probe, log_path=str(tmp_path / "logs" / "deployment-7-0.log"))
    _, handle = await run_to_end(launcher, by_id)
    assert handle.log_path.name == "deployment-7-0.log"
