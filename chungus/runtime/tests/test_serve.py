"""`chungus serve` end to end: the packaged model, the printed key, a clean stop."""

import json
import re
import signal
import sqlite3
import subprocess
import time

import httpx
import psutil
import pytest

from chungus.fleet.launchers.local import free_port
from chungus.runtime.management.commands.serve import banner
from chungus.testing.processes import CHUNGUS, chungus_instance, wait_http


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_the_default_model_prints_a_working_key_and_stops_cleanly(tmp_path, stop_signal):
    instance = chungus_instance(tmp_path / "home")
    port = free_port()
    process = subprocess.Popen(
        [str(CHUNGUS), "serve", "--port", str(port)], env=instance.env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output = ""
        deadline = time.monotonic() + 120
        while "Press Ctrl-C" not in output and time.monotonic() < deadline:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line, f"serve ended early:\n{output}"
            output += line
        found = re.search(r"shown once, copy it now\): (ck-\S+)", output)
        assert found, output
        key = found.group(1)
        assert f"curl http://127.0.0.1:{port}/v1/completions" in output
        assert f"Bearer {key}" in output and "model ready in" in output
        assert "Gemma 3 270M *base*" in output and "createsuperuser" in output
        printed = json.loads(re.search(r"-d '(\{.*\})'", output).group(1))
        wait_http(f"http://127.0.0.1:{port}/readyz", 10)
        children = [
            p
            for p in psutil.Process(process.pid).children(recursive=True)
            if "llama-server" in p.name()
        ]
        assert len(children) == 1

        continued = httpx.post(
            f"http://127.0.0.1:{port}/v1/completions",
            headers={"Authorization": f"Bearer {key}"},
            json=printed,
            timeout=60,
        ).json()
        assert continued["choices"][0]["text"].strip()

        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "model": "gemma3-270m",
                "messages": [{"role": "user", "content": "Say hello"}],
                "max_tokens": 8,
            },
            timeout=60,
        ).json()
        assert answer["choices"][0]["message"]["content"]
        assert answer["usage"]["completion_tokens"] > 0
        assert "<|im_end|>" not in answer["choices"][0]["message"]["content"]
    finally:
        process.send_signal(stop_signal)
        rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert "Traceback" not in rest and "CHUNGUS stopped." in rest
    assert not children[0].is_running() or children[0].status() == psutil.STATUS_ZOMBIE
    with sqlite3.connect(instance.home / "chungus.sqlite3") as db:
        assert (
            db.execute("select count(*) from gateway_requestlog where status = 200").fetchone()[0]
            == 2
        )
        assert db.execute("select count(*) from fleet_backend").fetchone()[0] == 0, (
            "stale backend left behind"
        )


def test_a_second_start_does_not_make_another_first_key(tmp_path):
    instance = chungus_instance(tmp_path / "home")
    instance.create_key("existing")
    instance.start("--no-default-model")
    instance.stop()
    assert "API keys exist already" in instance.log.read_text()
    assert instance.cli("keys", "list").stdout.count("active") == 1


@pytest.mark.parametrize(
    "command", [["serve"], ["keys"], ["keys", "create"], ["models"], ["models", "add"]]
)
def test_every_command_has_help(command):
    result = subprocess.run([str(CHUNGUS), *command, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "usage: chungus" in result.stdout


def test_a_port_that_is_taken_is_a_one_line_error(tmp_path):
    instance = chungus_instance(tmp_path / "home")
    instance.start("--no-default-model")
    try:
        result = instance.cli(
            "serve", "--no-default-model", "--port", str(instance.port), check=False
        )
    finally:
        instance.stop()
    assert result.returncode != 0
    assert "address already in use" in result.stderr and "Traceback" not in result.stderr


def test_the_banner_shows_a_first_science_job_to_run():
    text = banner("http://127.0.0.1:8000", "ck-x", True, ".venv/bin/chungus")
    assert ".venv/bin/chungus jobs submit md --structure villin --ns 0.01" in text
    assert "http://127.0.0.1:8000/jobs/" in text
