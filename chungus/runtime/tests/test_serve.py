"""`chungus serve` end to end: the packaged model, the printed key, a clean stop."""

import contextlib
import json
import re
import signal
import socket
import sqlite3
import subprocess
import time

import httpx
import openai
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
    "command",
    [
        ["serve"],
        ["keys"],
        ["keys", "create"],
        ["models"],
        ["models", "add"],
        ["batches"],
        ["batches", "cancel"],
        ["protollm-worker"],
    ],
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


def test_bodies_far_over_the_limit_get_a_413_the_client_can_read(tmp_path):
    """64 MB to /v1 (checked by the gateway) and to a page (by the body-limit middleware,
    before Django reads it); the OpenAI client reads the 413 rather than a reset."""
    instance = chungus_instance(tmp_path / "home")
    key = instance.create_key("k")
    instance.start("--no-default-model")
    big = "x" * (64 * 1024 * 1024)
    try:
        client = openai.OpenAI(base_url=f"{instance.url}/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.APIStatusError) as refused:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": big}])
        page = httpx.post(f"{instance.url}/accounts/login/", content=big.encode(), timeout=60)
        sent = [0]

        def endless():  # far past what a refused body is read for
            while sent[0] < 4096 * 1024 * 1024:
                sent[0] += 1024 * 1024
                yield b"x" * (1024 * 1024)

        with contextlib.suppress(httpx.TransportError):  # closed mid-body: it sent too much
            httpx.post(f"{instance.url}/v1/completions", content=endless(), timeout=60,
                       headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        after = instance.chat(key, "m")  # the server is fine
    finally:
        instance.stop()
    assert refused.value.status_code == 413
    assert refused.value.code == "request_too_large"
    assert page.status_code == 413 and page.json()["error"]["code"] == "request_too_large"
    assert sent[0] < 1024 * 1024 * 1024, "the server read a refused body on and on"
    assert after.status_code == 404  # no model m: answered, not refused


def test_the_server_bounds_connections_and_idle_keep_alive(tmp_path):
    instance = chungus_instance(
        tmp_path / "home", CHUNGUS_LIMIT_CONCURRENCY="3", CHUNGUS_KEEP_ALIVE_SECONDS="1"
    )
    instance.start("--no-default-model")
    try:
        idle = socket.create_connection(("127.0.0.1", instance.port))
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        idle.settimeout(3)
        answer = b""
        while not answer.endswith(b'{"status":"ok"}'):  # the head and body may come apart
            chunk = idle.recv(4096)
            assert chunk, f"the connection closed before the answer was whole: {answer!r}"
            answer += chunk
        assert b"200 OK" in answer
        assert idle.recv(4096) == b"", "an idle kept-alive connection outlived its timeout"
        held = [socket.create_connection(("127.0.0.1", instance.port)) for _ in range(3)]
        time.sleep(0.2)
        crowded = httpx.get(f"{instance.url}/healthz")
        for connection in [idle, *held]:
            connection.close()
    finally:
        instance.stop()
    assert crowded.status_code == 503


def closed_by_the_server(connection: socket.socket, deadline: float) -> bool:
    """Whether the server closes `connection` before `deadline` (time.monotonic)."""
    connection.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        while connection.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_connections_that_never_finish_their_head_are_closed_so_others_are_answered(tmp_path):
    """Slow-loris: CHUNGUS_LIMIT_CONCURRENCY connections that never finish their request head
    would hold every place and every other client would get 503, were they not closed after
    CHUNGUS_HEADER_TIMEOUT_SECONDS (kept-alive connections would stay for 30 s here)."""
    instance = chungus_instance(
        tmp_path / "home", CHUNGUS_LIMIT_CONCURRENCY="4", CHUNGUS_HEADER_TIMEOUT_SECONDS="1",
        CHUNGUS_KEEP_ALIVE_SECONDS="30",
    )  # fmt: skip
    instance.start("--no-default-model")
    partial = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    try:
        slow = [socket.create_connection(("127.0.0.1", instance.port)) for _ in range(2)]
        slow[0].sendall(partial)  # slow[1] sends nothing at all
        meanwhile = httpx.get(f"{instance.url}/healthz")
        kept = socket.create_connection(("127.0.0.1", instance.port))
        kept.sendall(partial + b"\r\n")
        assert b"200 OK" in kept.recv(4096)
        kept.sendall(partial)  # the next request's head, never finished
        dribbling = socket.create_connection(("127.0.0.1", instance.port))
        slow += [dribbling, kept]  # as many as CHUNGUS_LIMIT_CONCURRENCY
        started = time.monotonic()
        with contextlib.suppress(OSError):  # closed under it: a byte at a time keeps it not
            for byte in partial * 3:  # five seconds' worth
                dribbling.sendall(bytes([byte]))
                time.sleep(0.05)
        closed = [closed_by_the_server(c, started + 5) for c in slow]
        waited = time.monotonic() - started
        afterwards = httpx.get(f"{instance.url}/healthz")
        for connection in slow:
            connection.close()
    finally:
        instance.stop()
    assert meanwhile.status_code == 200
    assert closed == [True] * 4 and waited < 5
    assert afterwards.status_code == 200


def test_a_request_head_over_the_limit_gets_431(tmp_path):
    instance = chungus_instance(tmp_path / "home", CHUNGUS_MAX_HEADER_BYTES="4096")
    instance.start("--no-default-model")
    try:
        refused = httpx.get(f"{instance.url}/healthz", headers={"X-Big": "a" * 8192})
        answered = httpx.get(f"{instance.url}/healthz", headers={"X-Fine": "a" * 2048})
    finally:
        instance.stop()
    assert refused.status_code == 431 and answered.status_code == 200
