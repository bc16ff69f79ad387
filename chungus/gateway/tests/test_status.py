"""Backend health is visible in `chungus models list` and /api/fleet/status."""

import httpx
import pytest

from chungus.fleet.inventory.hosts import read_host
from chungus.testing.processes import chungus_instance
from chungus.testing.waiting import wait_for

DEAD = "http://127.0.0.1:9/v1"
PASSWORD = "pw-for-tests"


@pytest.fixture(scope="module")
def watched(tmp_path_factory, fake_engine):
    # The dead backend comes first, so equally idle backends tie in its favour; and with one
    # attempt per request, one sent there fails instead of being retried on the live one.
    # Only routing by health keeps every answer a 200.
    instance = chungus_instance(
        tmp_path_factory.mktemp("status"), CHUNGUS_HEALTH_INTERVAL="0.2", CHUNGUS_MAX_ATTEMPTS="1"
    )
    instance.cli("models", "add", "mixed", "--url", DEAD)
    instance.cli("models", "add", "mixed", "--url", fake_engine, "--upstream-model", "fake")
    instance.create_superuser("root", PASSWORD)
    instance.create_key("admin", "--owner", "root", "--admin")
    instance.create_key("plain")
    instance.start("--no-default-model")
    wait_for(lambda: probed(instance), "both backends probed and their health recorded")
    yield instance
    instance.stop()


def listed_health(instance):
    """The HEALTH column of `chungus models list` for each backend of `mixed`, by URL."""
    header, *lines = instance.cli("models", "list").stdout.splitlines()
    column = header.index("HEALTH")
    return {line.split()[1]: line[column:] for line in lines if line.startswith("mixed")}


def probed(instance):
    health = listed_health(instance)
    return len(health) == 2 and "unknown" not in health.values()


def test_models_list_shows_each_backends_health_and_reason(watched, fake_engine):
    health = listed_health(watched)
    assert health[DEAD].startswith("unhealthy: not reachable") and health[fake_engine] == "healthy"


def test_the_status_endpoint_shows_health_load_and_queue_to_an_admin_key(watched, fake_engine):
    response = httpx.get(
        f"{watched.url}/api/fleet/status",
        headers={"Authorization": f"Bearer {watched.keys['admin']}"},
    )
    assert response.status_code == 200
    model = next(m for m in response.json()["models"] if m["name"] == "mixed")
    assert model["queue_depth"] == 0 and model["routing"] == "least-outstanding"
    health = {b["url"]: b["health"] for b in model["backends"]}
    assert health == {DEAD: "unhealthy", fake_engine: "healthy"}


def test_requests_avoid_the_unhealthy_backend(watched, fake_engine):
    since = watched.last_logged()
    headers = {"Authorization": f"Bearer {watched.keys['plain']}"}
    body = {"model": "mixed", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(6):
        response = httpx.post(f"{watched.url}/v1/chat/completions", json=body, headers=headers)
        assert response.status_code == 200

    def logged():
        rows = watched.request_log(since)
        return [(row["backend"], row["attempts"]) for row in rows] if len(rows) == 6 else None

    assert wait_for(logged, "the six requests logged") == [(fake_engine, 1)] * 6


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
    assert PASSWORD not in text


def test_the_nodes_endpoint_lists_this_host_as_inventory_reads_it_to_an_admin_key(watched):
    headers = {"Authorization": f"Bearer {watched.keys['admin']}"}
    [node] = httpx.get(f"{watched.url}/api/fleet/nodes", headers=headers).json()["nodes"]
    here = read_host()  # its GPUs through NVML, whether this host has any or not
    assert (node["name"], node["cpus"], node["source"]) == (here.name, here.cpus, "local")
    gpus = [(gpu["index"], gpu["name"], gpu["memory_total_mb"]) for gpu in node["gpus"]]
    assert gpus == [(gpu.index, gpu.name, gpu.memory_total_mb) for gpu in here.gpus]
    plain = {"Authorization": f"Bearer {watched.keys['plain']}"}
    assert httpx.get(f"{watched.url}/api/fleet/nodes", headers=plain).status_code == 403
