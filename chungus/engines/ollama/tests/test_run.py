"""The Ollama replica wrapper: ready only once the model is in and loaded.

No Ollama can be installed here: `ollama` is a script running
chungus.testing.fake_ollama, which replays responses recorded from Ollama's API
documentation and keeps its models in OLLAMA_MODELS like Ollama does.
"""

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from chungus.engines.ollama.launch import (
    OllamaOptions,
    OllamaSource,
    manifest_path,
    ollama_env,
    wrapper_command,
)
from chungus.fleet.launchers.local import free_port
from chungus.testing.fake_ollama import write_ollama_command
from chungus.testing.processes import stop_process, wait_http

MARKER = "chungus-ready-test"


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def seen(self):
        return httpx.get(f"{self.url}/_requests").json()

    def lines(self):
        return self.log.read_text().splitlines()


def start(tmp_path, source, pull_seconds=0.0, **extra_env):
    port = free_port()
    env = {
        **os.environ,
        **ollama_env(port, OllamaOptions(models_dir=tmp_path / "models")),
        "FAKE_OLLAMA_PULL_SECONDS": str(pull_seconds),
        **extra_env,
    }
    shim = write_ollama_command(tmp_path / "bin")
    command = wrapper_command(sys.executable, str(shim), "chat", source, port, MARKER)
    log = tmp_path / f"replica-{port}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Replica(process, port, log)


def wait_ready(replica, seconds=30):
    wait_http(f"{replica.url}/v1/models/{MARKER}", seconds, replica.process)


@pytest.fixture
def replicas():
    started: list[Replica] = []
    yield started
    for replica in started:
        stop_process(replica.process)


def test_it_is_ready_only_after_the_model_is_pulled_and_loaded(tmp_path, replicas):
    replicas.append(replica := start(tmp_path, OllamaSource("library", "llama3.2:1b"), 2.0))
    wait_http(f"{replica.url}/", 30, replica.process)  # Ollama answers at once...
    assert httpx.get(f"{replica.url}/v1/models/{MARKER}").status_code == 404  # ...not ready yet
    wait_ready(replica)
    steps = [(r["_path"], r.get("model") or r.get("destination")) for r in replica.seen()]
    assert steps == [
        ("/api/delete", MARKER),
        ("/api/show", "llama3.2:1b"),
        ("/api/pull", "llama3.2:1b"),
        ("/api/copy", "chat"),
        ("/api/generate", "chat"),
        ("/api/copy", MARKER),
    ]
    assert replica.seen()[4]["keep_alive"] == -1 and "prompt" not in replica.seen()[4]
    assert "chungus-ollama: llama3.2:1b: pulling digestname 0% of 2.14 GB" in replica.lines()
    answer = httpx.post(f"{replica.url}/api/chat", json={"model": "chat", "stream": False})
    assert answer.status_code == 200 and answer.json()["model"] == "chat"


def test_a_model_already_in_the_models_directory_is_not_pulled_again(tmp_path, replicas):
    replicas.append(first := start(tmp_path, OllamaSource("library", "llama3.2:1b")))
    wait_ready(first)
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(15) == 0
    assert manifest_path(tmp_path / "models", "chat").is_file()
    assert not manifest_path(tmp_path / "models", MARKER).exists()  # gone with the replica
    replicas.append(second := start(tmp_path, OllamaSource("library", "llama3.2:1b")))
    wait_ready(second)
    assert "/api/pull" not in [r["_path"] for r in second.seen()]
    assert "chungus-ollama: llama3.2:1b is already in the models directory; not pulling it" in (
        second.lines()
    )


def test_a_gguf_file_is_uploaded_once_and_created_under_the_deployment_name(tmp_path, replicas):
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + os.urandom(3000))
    digest = f"sha256:{hashlib.sha256(model.read_bytes()).hexdigest()}"
    replicas.append(first := start(tmp_path, OllamaSource("gguf", str(model))))
    wait_ready(first)
    seen = first.seen()
    assert [r["_path"] for r in seen[:3]] == ["/api/delete", f"/api/blobs/{digest}", "/api/create"]
    assert seen[2]["model"] == "chat" and seen[2]["files"] == {"tiny.gguf": digest}
    stop_process(first.process)
    replicas.append(second := start(tmp_path, OllamaSource("gguf", str(model))))
    wait_ready(second)
    assert not [r for r in second.seen() if r["_path"].startswith("/api/blobs/")]
    assert not [line for line in second.lines() if "computing the SHA-256" in line]


def test_a_model_the_library_lacks_ends_the_replica_with_the_reason_last(tmp_path, replicas):
    replicas.append(replica := start(tmp_path, OllamaSource("library", "missing")))
    assert replica.process.wait(30) == 1
    assert replica.lines()[-1] == (
        "chungus-ollama: Ollama could not pull 'missing': pull model manifest: file does not exist"
    )
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{replica.url}/", timeout=2)  # Ollama is stopped too


def test_a_missing_gguf_file_ends_the_replica_saying_so(tmp_path, replicas):
    replicas.append(replica := start(tmp_path, OllamaSource("gguf", str(tmp_path / "gone.gguf"))))
    assert replica.process.wait(30) == 1
    assert replica.lines()[-1].endswith("gone.gguf does not exist")


def test_sigterm_to_the_wrapper_alone_stops_ollama(tmp_path, replicas):
    replicas.append(replica := start(tmp_path, OllamaSource("library", "llama3.2:1b")))
    wait_ready(replica)
    engine = psutil.Process(replica.process.pid).children()[0]
    replica.process.send_signal(signal.SIGTERM)  # what Ray's actor does: the wrapper only
    assert replica.process.wait(15) == 0
    engine.wait(5)
    assert not engine.is_running()


def test_ollama_goes_when_the_wrapper_is_killed(tmp_path, replicas):
    replicas.append(replica := start(tmp_path, OllamaSource("library", "llama3.2:1b")))
    wait_ready(replica)
    engine = psutil.Process(replica.process.pid).children()[0]
    replica.process.kill()
    replica.process.wait()
    engine.wait(10)
    assert not engine.is_running()


def test_with_a_relay_key_ollama_hides_on_loopback_and_the_relay_wants_the_key(tmp_path, replicas):
    key = "relay-secret-for-this-test"
    replicas.append(
        replica := start(tmp_path, OllamaSource("library", "llama3.2:1b"),
                         CHUNGUS_OLLAMA_RELAY_KEY=key)
    )  # fmt: skip
    ready, auth = f"{replica.url}/v1/models/{MARKER}", {"Authorization": f"Bearer {key}"}
    for _ in range(300):
        with contextlib.suppress(httpx.TransportError):  # the relay is not listening yet
            if httpx.get(ready, headers=auth).status_code == 200:
                break
        time.sleep(0.1)
    else:
        raise AssertionError("never ready through the relay:\n" + "\n".join(replica.lines()))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": key}):
        refused = httpx.get(ready, headers=headers)
        assert refused.status_code == 401 and "unauthorized" in refused.json()["error"]
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    streamed = httpx.post(f"{replica.url}/api/chat", json=body, headers=auth)
    assert streamed.status_code == 200 and streamed.text.count("\n") > 1  # NDJSON, relayed
    ollama = [p for p in psutil.Process(replica.process.pid).children(recursive=True)]
    assert ollama and all(key not in "".join(p.environ().values()) for p in ollama)
    listening = {c.laddr for p in ollama for c in p.net_connections("inet") if c.status == "LISTEN"}
    assert listening and all(address.ip == "127.0.0.1" for address in listening)
    assert all(address.port != replica.port for address in listening)
