"""Identity changes reach a running gateway within CHUNGUS_REFRESH_SECONDS: a deactivated
user's keys stop working on /v1, a demoted superuser's admin key loses the fleet."""

import httpx
import pytest

from chungus.testing.processes import chungus_instance
from chungus.testing.waiting import wait_for

REFRESH_SECONDS = 0.2
# The bound the issue sets is the refresh interval; a reload and the CLI's own start add a
# little, so the test allows a generous multiple of it, never an exact timing.
WITHIN_S = 30 * REFRESH_SECONDS


@pytest.fixture(scope="module")
def served(tmp_path_factory, fake_engine):
    instance = chungus_instance(
        tmp_path_factory.mktemp("identity"),
        DATABASE_URL="",
        CHUNGUS_REFRESH_SECONDS=str(REFRESH_SECONDS),
    )
    instance.cli("models", "add", "fake-ok", "--url", fake_engine, "--upstream-model", "fake")
    instance.create_superuser("root")
    instance.cli("shell", "-c", "from django.contrib.auth.models import User; "
                 "User.objects.create_user('alice', password='pw-for-tests')")  # fmt: skip
    instance.create_key("alices", "--owner", "alice")
    instance.create_key("roots-admin", "--owner", "root", "--admin")
    instance.create_key("roots-everyday", "--owner", "root")
    instance.start("--no-default-model")
    yield instance
    instance.stop()


def models_status(instance, key):
    headers = {"Authorization": f"Bearer {instance.keys[key]}"}
    return httpx.get(f"{instance.url}/v1/models", headers=headers, timeout=10).status_code


def fleet_status(instance, key):
    headers = {"Authorization": f"Bearer {instance.keys[key]}"}
    return httpx.get(f"{instance.url}/api/fleet/status", headers=headers, timeout=10).status_code


def set_user(instance, name, **fields):
    assignments = "; ".join(f"u.{field} = {value!r}" for field, value in fields.items())
    instance.cli("shell", "-c", "from django.contrib.auth.models import User; "
                 f"u = User.objects.get(username={name!r}); {assignments}; u.save()")  # fmt: skip


def test_a_deactivated_users_key_is_refused_on_v1_within_the_refresh_interval(served):
    wait_for(lambda: models_status(served, "alices") == 200, "alice's key works")
    set_user(served, "alice", is_active=False)
    wait_for(lambda: models_status(served, "alices") == 401, "alice's key refused", WITHIN_S)
    set_user(served, "alice", is_active=True)
    wait_for(lambda: models_status(served, "alices") == 200, "alice's key back", WITHIN_S)


def test_only_an_admin_key_sees_the_fleet_and_a_demoted_superuser_loses_it(served):
    wait_for(lambda: fleet_status(served, "roots-admin") == 200, "the admin key sees the fleet")
    assert fleet_status(served, "roots-everyday") == 403
    assert models_status(served, "roots-everyday") == 200
    set_user(served, "root", is_superuser=False)
    wait_for(lambda: fleet_status(served, "roots-admin") == 403, "the demotion seen", WITHIN_S)
    assert models_status(served, "roots-admin") == 200  # still a user's key for inference


def test_readyz_reports_the_snapshot(served):
    body = httpx.get(f"{served.url}/readyz", timeout=10).json()
    assert body["checks"]["snapshot"]["ok"] and body["checks"]["snapshot"]["failures"] == 0
