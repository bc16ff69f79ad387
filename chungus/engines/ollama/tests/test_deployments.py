"""Ollama deployments under a real CHUNGUS on the local launcher, called with the openai client.

No Ollama can be installed here: CHUNGUS_OLLAMA_BINARY points at a script running
chungus.testing.fake_ollama, which replays responses recorded from Ollama's API
documentation and only answers for models pulled into it.
"""

import sqlite3

import httpx
import openai
import psutil
import pytest

from chungus.fleet.lifecycle.tests.test_deployments import wait_state
from chungus.testing.fake_ollama import write_ollama_command
from chungus.testing.processes import chungus_instance


def reason(instance, name):
    with sqlite3.connect(instance.home / "chungus.sqlite3") as db:
        query = "select state_reason from fleet_deployment where name = ?"
        return db.execute(query, (name,)).fetchone()[0]


def replica_processes(instance, name):
    """The wrapper serving `name` and everything under it (the fake `ollama serve`)."""
    for child in psutil.Process(instance.process.pid).children(recursive=True):
        command = child.cmdline()
        if "chungus.engines.ollama.run" in command and command[command.index("--name") + 1] == name:
            return [child, *child.children(recursive=True)]
    return []


@pytest.fixture(scope="module")
def ollama_deployed(tmp_path_factory):
    home = tmp_path_factory.mktemp("ollama-deploy")
    instance = chungus_instance(
        home,
        CHUNGUS_RECONCILE_SECONDS="0.3",
        CHUNGUS_HEALTH_INTERVAL="0.5",
        CHUNGUS_OLLAMA_BINARY=str(write_ollama_command(home / "bin")),
        FAKE_OLLAMA_PULL_SECONDS="1",
        CHUNGUS_ENGINE_ENV="FAKE_OLLAMA_PULL_SECONDS",  # engines get only what is allowed
    )
    instance.cli("deploy", "chat", "--engine", "ollama", "--source", "llama3.2:1b")
    instance.cli("deploy", "nowhere", "--engine", "ollama", "--source", "missing")
    key = instance.create_key("k")
    instance.start("--no-default-model")
    yield instance, openai.OpenAI(base_url=f"{instance.url}/v1", api_key=key, max_retries=0)
    instance.stop()


def test_an_ollama_deployment_gets_ready_and_answers_the_openai_client(ollama_deployed):
    instance, client = ollama_deployed
    wait_state(instance, "chat", "ready", 60)
    answer = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Why is the sky blue?"}], max_tokens=8
    )
    assert answer.model == "chat" and answer.choices[0].message.content
    assert answer.usage is not None and answer.usage.completion_tokens > 0


def test_a_model_ollama_cannot_pull_fails_the_deployment_saying_why(ollama_deployed):
    instance, _ = ollama_deployed
    wait_state(instance, "nowhere", "failed", 90)
    assert "Ollama could not pull 'missing': pull model manifest: file does not exist" in (
        reason(instance, "nowhere")
    )


def test_stopping_it_leaves_no_process_behind(ollama_deployed):
    instance, _ = ollama_deployed
    wait_state(instance, "chat", "ready", 60)
    processes = replica_processes(instance, "chat")
    assert len(processes) == 2  # the wrapper and `ollama serve`
    instance.cli("deployments", "stop", "chat")
    wait_state(instance, "chat", "stopped", 60)
    _, alive = psutil.wait_procs(processes, timeout=15)
    assert alive == []


def test_on_slurm_ollama_answers_only_through_its_relay_with_chungus_key(tmp_path, slurm):
    """Ollama has no authentication: on another node it listens on loopback behind the
    wrapper's relay, which wants the replica's secret; CHUNGUS sends it."""
    instance = chungus_instance(
        tmp_path / "home",
        CHUNGUS_RECONCILE_SECONDS="0.3",
        CHUNGUS_OLLAMA_BINARY=str(write_ollama_command(tmp_path / "bin")),
        **slurm.env,
    )
    instance.cli("deploy", "remote", "--engine", "ollama", "--source", "llama3.2:1b",
                 "--launcher", "slurm")  # fmt: skip
    key = instance.create_key("k")
    instance.start("--no-default-model")
    try:
        wait_state(instance, "remote", "ready", 90)
        client = openai.OpenAI(base_url=f"{instance.url}/v1", api_key=key, max_retries=0)
        answer = client.chat.completions.create(
            model="remote", messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
        assert answer.choices[0].message.content
        with sqlite3.connect(instance.home / "chungus.sqlite3") as db:
            url, secret = db.execute("select url, api_key from fleet_backend").fetchone()
        root = url.removesuffix("/v1")
        assert httpx.post(f"{root}/api/chat", json={"model": "remote"}).status_code == 401
        signed = httpx.get(f"{root}/api/tags", headers={"Authorization": f"Bearer {secret}"})
        assert signed.status_code == 200
    finally:
        instance.stop()
