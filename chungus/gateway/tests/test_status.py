"""Backend health is visible in `chungus models list` and /api/fleet/status."""

import os
import time

import httpx
import pytest

from chungus.testing.processes import chungus_instance


@pytest.fixture(scope="module")
def watched(tmp_path_factory, fake_engine):
    instance = chungus_instance(tmp_path_factory.mktemp("status"), CHUNGUS_HEALTH_INTERVAL="0.2")
    instance.cli("models", "add", "mixed", "--url", fake_engine, "--upstream-model", "fake")
    instance.cli("models", "add", "mixed", "--url", "http://127.0.0.1:9/v1")
    env = {**instance.env, "DJANGO_SUPERUSER_PASSWORD": "pw-for-tests"}
    instance.env = env
    instance.cli(
        "createsuperuser", "--noinput", "--username", "root", "--email", "root@example.com"
    )
    instance.create_key("admin", "--owner", "root")
    instance.create_key("plain")
    instance.start("--no-default-model")
    time.sleep(1.5)
    yield instance
    instance.stop()


def test_models_list_shows_each_backends_health_and_reason(watched):
    listing = watched.cli("models", "list").stdout
    dead = next(line for line in listing.splitlines() if "127.0.0.1:9/v1" in line)
    live = next(
        line for line in listing.splitlines() if "127.0.0.1:9/v1" not in line and "mixed" in line
    )
    assert "unhealthy: not reachable" in dead
    assert live.rstrip().endswith("healthy")


def test_the_status_endpoint_shows_health_load_and_queue_to_an_admin_key(watched):
    response = httpx.get(
        f"{watched.url}/api/fleet/status",
        headers={"Authorization": f"Bearer {watched.keys['admin']}"},
    )
    assert response.status_code == 200
    model = next(m for m in response.json()["models"] if m["name"] == "mixed")
    assert model["queue_depth"] == 0 and model["routing"] == "least-outstanding"
    health = {b["url"]: b["health"] for b in model["backends"]}
    assert health["http://127.0.0.1:9/v1"] == "unhealthy"
    assert "healthy" in health.values()


def test_requests_avoid_the_unhealthy_backend(watched):
    headers = {"Authorization": f"Bearer {watched.keys['plain']}"}
    body = {"model": "mixed", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(6):
        response = httpx.post(f"{watched.url}/v1/chat/completions", json=body, headers=headers)
        assert response.status_code == 200


@pytest.mark.parametrize("key", ["plain", None])
def test_the_status_endpoint_refuses_other_callers(watched, key):
    headers = {"Authorization": f"Bearer {watched.keys[key]}"} if key else {}
    response = httpx.get(f"{watched.url}/api/fleet/status", headers=headers)
    assert response.status_code == (403 if key else 401)
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_nothing_secret_leaks_into_the_status(watched):
    text = httpx.get(
        f"{watched.url}/api/fleet/status",
        headers={"Authorization": f"Bearer {watched.keys['admin']}"},
    ).text
    assert all(secret not in text for secret in watched.keys.values())
    assert os.environ.get("DJANGO_SUPERUSER_PASSWORD", "pw-for-tests") not in text


def test_the_nodes_endpoint_lists_this_host_to_an_admin_key(watched):
    headers = {"Authorization": f"Bearer {watched.keys['admin']}"}
    nodes = httpx.get(f"{watched.url}/api/fleet/nodes", headers=headers).json()["nodes"]
    assert nodes[0]["gpus"] == [] and nodes[0]["cpus"] >= 1
    plain = {"Authorization": f"Bearer {watched.keys['plain']}"}
    assert httpx.get(f"{watched.url}/api/fleet/nodes", headers=plain).status_code == 403
