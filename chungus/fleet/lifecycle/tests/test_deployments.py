"""Deployments on the local launcher: idle unload, cold start on the next request, warm-up."""

import sqlite3
import time

import pytest

from chungus.engines.base import DeploymentPlan
from chungus.fleet.lifecycle.plans import launch_spec
from chungus.testing.processes import chungus_instance


def states(instance):
    with sqlite3.connect(instance.home / "chungus.sqlite3") as db:
        return dict(db.execute("select name, state from fleet_deployment").fetchall())


def reason(instance, name):
    with sqlite3.connect(instance.home / "chungus.sqlite3") as db:
        query = "select state_reason from fleet_deployment where name = ?"
        return db.execute(query, (name,)).fetchone()[0]


def wait_state(instance, name, state, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if states(instance).get(name) == state:
            return
        time.sleep(0.2)
    raise AssertionError(
        f"{name} never {state}: {states(instance)}\n{instance.cli('deployments', 'list').stdout}"
    )


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    instance = chungus_instance(
        tmp_path_factory.mktemp("deploy"),
        CHUNGUS_RECONCILE_SECONDS="0.3",
        CHUNGUS_WARMUP_SECONDS="1.5",
        CHUNGUS_HEALTH_INTERVAL="0.5",
    )
    instance.cli("deploy", "sleepy", "--source", "packaged", "--idle-timeout", "4")
    instance.cli("deploy", "warm", "--source", "packaged", "--always-warm", "--idle-timeout", "4")
    key = instance.create_key("k")
    instance.start("--no-default-model")
    wait_state(instance, "sleepy", "ready", 60)
    wait_state(instance, "warm", "ready", 60)
    yield instance, key
    instance.stop()


def test_a_deployed_model_answers(deployed):
    instance, key = deployed
    assert instance.chat(key, "sleepy", timeout=120).status_code == 200
    assert "ready" in instance.cli("deployments", "list").stdout


def test_an_idle_deployment_is_unloaded_and_the_next_request_starts_it_again(deployed):
    instance, key = deployed
    wait_state(instance, "sleepy", "stopped", 20)
    assert "the next request starts it again" in instance.cli("deployments", "list").stdout
    answer = instance.chat(key, "sleepy", timeout=120)
    assert answer.status_code == 200, answer.text
    assert float(answer.headers["x-chungus-cold-start-seconds"]) > 0
    wait_state(instance, "sleepy", "ready", 5)


def test_an_always_warm_deployment_gets_warm_ups_and_never_idles_out(deployed):
    instance, _ = deployed
    time.sleep(5)
    assert states(instance)["warm"] == "ready"
    with sqlite3.connect(instance.home / "chungus.sqlite3") as db:
        query = "select status, key_name from gateway_requestlog where endpoint = ? and model = ?"
        warmups = db.execute(query, ("warmup", "warm")).fetchall()
    assert len(warmups) >= 2 and set(warmups) == {(200, "warm-up")}


@pytest.mark.parametrize(("launcher", "host"), [("local", "127.0.0.1"), ("slurm", "0.0.0.0")])
def test_llama_server_listens_where_chungus_can_reach_it(tmp_path, launcher, host):
    plan = DeploymentPlan("m", "packaged", "llamacpp", 0, launcher=launcher)
    command = launch_spec(plan, tmp_path, 0, ()).command
    assert command[command.index("--host") + 1] == host
