"""Snapshots of keys and routes, and the version they follow."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chungus.accounts.keyinfo import key_infos
from chungus.accounts.models import ApiKey
from chungus.accounts.secrets import hash_secret
from chungus.core.models import ConfigVersion
from chungus.fleet.backends import routing_table
from chungus.fleet.models import Backend, Model
from chungus.gateway.snapshot import (
    SnapshotStore,
    SyncStatus,
    load_snapshot,
    retry_delay,
    sync_report,
)
from chungus.telemetry.entries import LogEntry
from chungus.telemetry.requestlog import LogBuffer
from chungus.testing.waiting import wait_for_async


@pytest.mark.django_db
def test_the_snapshot_holds_keys_models_and_backends():
    _key, secret = ApiKey.issue("k", rpm=5, allowed_models=["m"])
    model = Model.objects.create(name="m")
    Backend.objects.create(model=model, url="http://a/v1/", engine="llamacpp", upstream_model="up")
    snapshot = load_snapshot(key_infos, routing_table)
    info = snapshot.keys[hash_secret(secret)]
    assert (info.name, info.rpm, info.allowed_models, info.active) == (
        "k",
        5,
        frozenset({"m"}),
        True,
    )
    backend = snapshot.models["m"].backends[0]
    assert (backend.url, backend.engine, backend.upstream_model) == (
        "http://a/v1",
        "llamacpp",
        "up",
    )


@pytest.mark.django_db
def test_every_change_moves_the_configuration_version():
    before = ConfigVersion.current()
    key, _ = ApiKey.issue("k")
    after_create = ConfigVersion.current()
    key.revoke()
    Model.objects.create(name="m").delete()
    assert before < after_create < ConfigVersion.current()


@pytest.mark.django_db(transaction=True)
async def test_the_store_reloads_and_the_log_buffer_writes_in_bulk():
    from chungus.telemetry.models import RequestLog

    _key, secret = await sync_to_async(ApiKey.issue)("k")
    store = SnapshotStore(key_infos, routing_table)
    await store.reload()
    assert store.current.version == await sync_to_async(ConfigVersion.current)()
    assert store.current.keys[hash_secret(secret)].name == "k"
    buffer = LogBuffer(batch_size=2)
    for status in (200, 404, 502):
        buffer.append(LogEntry(endpoint="chat/completions", status=status, model="m"))
    assert await buffer.flush() == 3
    assert await sync_to_async(RequestLog.objects.count)() == 3
    assert buffer.pending == []


@pytest.mark.django_db(transaction=True)
async def test_the_store_follows_each_change_of_the_configuration():
    store = SnapshotStore(key_infos, routing_table)
    await store.reload()
    following = asyncio.create_task(store.follow(0.01))
    try:
        await sync_to_async(Model.objects.create)(name="late")
        await wait_for_async(lambda: "late" in store.current.models, "the new model seen")
        assert store.current.version == await sync_to_async(ConfigVersion.current)()
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)


def test_retries_back_off_from_the_interval_to_a_short_cap():
    assert retry_delay(0.5, 0) == 0.5
    assert [retry_delay(0.5, n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 4.0]
    assert retry_delay(10.0, 3) == 10.0  # never shorter than the interval


def test_the_report_fails_once_the_snapshot_is_stale_for_a_few_intervals():
    fresh = SyncStatus(synced_at=100.0, loaded_at=1.0)
    assert sync_report(fresh, interval=1.0, now=104.0)["ok"]
    failing = SyncStatus(synced_at=100.0, failures=7, last_error="OperationalError")
    stale = sync_report(failing, interval=1.0, now=106.0)
    assert not stale["ok"] and stale["failures"] == 7 and stale["last_error"] == "OperationalError"
    assert not sync_report(SyncStatus(), 1.0, 0.0)["ok"]  # never loaded


@pytest.mark.django_db(transaction=True)
async def test_a_failing_reload_is_retried_reported_and_recovers():
    broken = {"on": False}

    def keys():
        if broken["on"]:
            raise RuntimeError("database gone")
        return key_infos()

    store = SnapshotStore(keys, routing_table)
    await store.reload()
    assert store.report()["ok"]
    broken["on"] = True
    following = asyncio.create_task(store.follow(0.01))
    try:
        await sync_to_async(Model.objects.create)(name="during")
        await wait_for_async(lambda: store.sync.failures >= 2, "the failed reload retried")
        assert store.report()["last_error"] == "RuntimeError"
        assert "during" not in store.current.models  # the last snapshot is kept meanwhile
        broken["on"] = False
        await wait_for_async(lambda: "during" in store.current.models, "the reload recovered")
        assert store.sync.failures == 0 and store.report()["ok"]
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
