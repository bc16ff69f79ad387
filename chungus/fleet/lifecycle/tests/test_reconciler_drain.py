"""A ready deployment that is stopped drains: it leaves routing, finishes what it serves,
then its engine stops (a real CHUNGUS with a real llama-server on the local launcher)."""

import contextlib
import json
import threading
import time
from typing import Any

import httpx
import psutil
import pytest

from chungus.fleet.lifecycle.tests.test_deployments import reason, states, wait_state
from chungus.testing.processes import chungus_instance


@pytest.fixture(scope="module")
def steady(tmp_path_factory):
    instance = chungus_instance(
        tmp_path_factory.mktemp("drain"),
        CHUNGUS_RECONCILE_SECONDS="0.3",
        CHUNGUS_HEALTH_INTERVAL="0.5",
        CHUNGUS_DRAIN_SECONDS="60",
    )
    instance.cli("deploy", "steady", "--source", "packaged")
    key = instance.create_key("k")
    instance.start("--no-default-model")
    wait_state(instance, "steady", "ready", 60)
    yield instance, key
    instance.stop()


def stream_long_answer(instance, key, started, result):
    body = {
        "model": "steady",
        "messages": [{"role": "user", "content": "Count from 1 to 300, one number per line."}],
        "max_tokens": 160,
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {key}"}
    url = f"{instance.url}/v1/chat/completions"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=120) as response:
        result["status"] = response.status_code
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            started.set()
            if line == "data: [DONE]":
                result["done"] = True
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                result["error"] = chunk["error"]
            for choice in chunk.get("choices", []):
                result["finish"] = choice.get("finish_reason") or result.get("finish")


def test_stopping_a_deployment_finishes_the_answer_it_is_streaming(steady):
    instance, key = steady
    started, result = threading.Event(), dict[str, Any]()
    client = threading.Thread(target=stream_long_answer, args=(instance, key, started, result))
    client.start()
    assert started.wait(60), result
    instance.cli("deployments", "stop", "steady")
    wait_state(instance, "steady", "draining", 10)
    assert "stopped by the operator; draining" in reason(instance, "steady")
    # Out of routing at once: a new request is not sent to the draining engine.
    assert instance.chat(key, "steady", timeout=30).status_code in (404, 503)
    reasons = set()
    while client.is_alive():
        reasons.add(reason(instance, "steady"))
        time.sleep(0.1)
    assert "stopped by the operator; draining: 1 request(s) in flight" in reasons, reasons
    assert result.get("status") == 200 and result.get("done"), result
    assert "error" not in result and result["finish"] in ("length", "stop"), result
    wait_state(instance, "steady", "stopped", 30)
    assert "drained in" in reason(instance, "steady")
    engines = [
        p
        for p in psutil.Process(instance.process.pid).children(recursive=True)
        if "llama-server" in p.name()
    ]
    assert engines == [] and states(instance)["steady"] == "stopped"


def engine_commands(instance):
    commands = []
    for child in psutil.Process(instance.process.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):  # an engine exiting right now (a zombie)
            if "llama-server" in child.name():
                commands.append(child.cmdline())
    return commands


def test_a_redeploy_with_new_settings_restarts_the_engine_with_them(steady):
    instance, key = steady
    instance.cli("deploy", "resized", "--source", "packaged", "--context", "2048")
    wait_state(instance, "resized", "ready", 60)
    instance.cli("deploy", "resized", "--source", "packaged", "--context", "3072")
    deadline = time.monotonic() + 60
    while not any("3072" in command for command in engine_commands(instance)):
        assert time.monotonic() < deadline, engine_commands(instance)
        time.sleep(0.2)
    wait_state(instance, "resized", "ready", 60)
    assert [c[c.index("--ctx-size") + 1] for c in engine_commands(instance)] == ["3072"]
    assert instance.chat(key, "resized", timeout=60).status_code == 200
    instance.cli("deployments", "stop", "resized")
