"""The reconciler's lease: one holder at a time, handed over when the holder dies."""

import signal
import time
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from chungus.fleet.lifecycle.lease import release, try_acquire
from chungus.fleet.models import Lease
from chungus.testing.processes import chungus_instance


@pytest.mark.django_db
def test_only_one_holder_at_a_time_until_the_lease_lapses():
    assert try_acquire("loop", "a", 30)
    assert not try_acquire("loop", "b", 30)
    assert try_acquire("loop", "a", 30), "the holder renews"
    Lease.objects.filter(name="loop").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert try_acquire("loop", "b", 30)
    assert not try_acquire("loop", "a", 30)


@pytest.mark.django_db
def test_a_released_lease_is_free_at_once():
    assert try_acquire("loop", "a", 30)
    release("loop", "a")
    assert try_acquire("loop", "b", 30)


def holder(url):
    with psycopg.connect(url) as db:
        row = db.execute("select holder from fleet_lease where name = 'reconciler'").fetchone()
    return row[0] if row else None


def test_killing_the_reconciling_process_hands_reconciling_to_the_other(tmp_path, postgres_url):
    env = {
        "DATABASE_URL": postgres_url,
        "CHUNGUS_LEASE_SECONDS": "3",
        "CHUNGUS_RECONCILE_SECONDS": "0.5",
    }
    first, second = chungus_instance(tmp_path / "a", **env), chungus_instance(tmp_path / "b", **env)
    first.start("--no-default-model")
    deadline = time.monotonic() + 10
    while holder(postgres_url) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    second.start("--no-default-model")
    try:
        assert holder(postgres_url).endswith(f":{first.process.pid}")
        time.sleep(2)
        assert holder(postgres_url).endswith(f":{first.process.pid}"), "only one process reconciles"
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        killed = time.monotonic()
        while not holder(postgres_url).endswith(f":{second.process.pid}"):
            assert time.monotonic() - killed < 30, "reconciling was not handed over within 30 s"
            time.sleep(0.2)
    finally:
        second.stop()
        first.stop()
