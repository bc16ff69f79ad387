"""Sampling the inventory over time, and pruning old samples."""

import asyncio
import json
import logging
import socket
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from chungus.fleet.inventory.hosts import GpuInfo, HostInfo
from chungus.fleet.inventory.sampling import expired_samples, run_sampler, sample_once, sample_rows
from chungus.fleet.models import InventorySample
from chungus.fleet.states import NodeSource
from chungus.telemetry.retention import prune_chunk
from chungus.testing.recorded_nvml import RecordedNvml

NOW = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)
H100 = {"name": "H100", "memory_mb": 81559}
LOCAL = HostInfo(
    "box",
    cpus=16,
    memory_total_mb=64000,
    memory_used_mb=16000,
    gpus=(
        GpuInfo(0, "H100", 81559, 40000, utilization_pct=87, temperature_c=61),
        GpuInfo(1, "H100", 81559, 0),  # a MIG slice: no utilization, no temperature
    ),
)
DECLARED = HostInfo(
    "gpu-01", 64, 512000, 0, (GpuInfo(0, "A100", 40960),), source=NodeSource.DECLARED
)


def fields(row: InventorySample) -> tuple:
    return (
        row.time,
        row.node,
        row.gpu,
        row.declared,
        row.memory_used_mb,
        row.memory_total_mb,
        row.utilization_pct,
        row.temperature_c,
    )


@pytest.fixture
def declared_file(tmp_path):
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps({"nodes": [{"name": "gpu-01", "gpus": [H100, H100]}]}))
    return path


def test_each_host_becomes_a_host_row_and_a_row_per_gpu():
    rows = sample_rows([LOCAL], NOW, cpu_pct=12.6)
    at = int(NOW.timestamp())
    assert [fields(r) for r in rows] == [
        (at, "box", InventorySample.HOST, False, 16000, 64000, 13, None),
        (at, "box", 0, False, 40000, 81559, 87, 61),
        (at, "box", 1, False, 0, 81559, None, None),
    ]
    assert all(r.pk is None for r in rows)  # nothing is written


def test_a_declared_host_is_sampled_with_nothing_measured():
    rows = sample_rows([DECLARED], NOW, cpu_pct=50.0)
    assert [(r.gpu, r.declared, r.memory_used_mb, r.utilization_pct) for r in rows] == [
        (InventorySample.HOST, True, 0, None),  # this host's CPU is not gpu-01's
        (0, True, 0, None),
    ]


def test_without_a_cpu_reading_the_host_row_has_no_utilization():
    assert sample_rows([LOCAL], NOW)[0].utilization_pct is None
    assert sample_rows([], NOW) == []


@pytest.mark.django_db
def test_one_pass_writes_this_host_its_gpus_and_the_declared_ones(declared_file):
    assert sample_once(declared_file, NOW, RecordedNvml.named("two_h100")) == 6
    rows = set(InventorySample.objects.values_list("node", "gpu", "declared", "time"))
    at = int(NOW.timestamp())
    here = socket.gethostname()
    assert rows == {
        (here, InventorySample.HOST, False, at),
        (here, 0, False, at),
        (here, 1, False, at),
        ("gpu-01", InventorySample.HOST, True, at),
        ("gpu-01", 0, True, at),
        ("gpu-01", 1, True, at),
    }
    gpus = InventorySample.objects.filter(node=here, gpu__gte=0).order_by("gpu")
    assert [(g.memory_used_mb, g.utilization_pct) for g in gpus] == [(73728, 87), (18743, 12)]
    host = InventorySample.objects.get(node=here, gpu=InventorySample.HOST)
    assert 0 < host.memory_used_mb < host.memory_total_mb
    assert host.utilization_pct is not None and 0 <= host.utilization_pct <= 100


@pytest.mark.django_db
def test_it_prunes_only_samples_older_than_the_retention():
    ages = [8, 8, 7.01, 6.99, 1, 0]
    InventorySample.objects.bulk_create(
        sample_rows([DECLARED], NOW - timedelta(days=age))[0] for age in ages
    )
    rows = expired_samples(7, NOW)
    assert prune_chunk(rows, 2) == 2
    assert prune_chunk(rows, 2) == 1
    assert prune_chunk(rows, 2) == 0
    left = sorted(round((NOW.timestamp() - t) / 86400, 2) for t in _times())
    assert left == [0, 1, 6.99]


def _times():
    return InventorySample.objects.values_list("time", flat=True)


async def test_an_interval_of_zero_turns_sampling_off():
    await asyncio.wait_for(run_sampler(0), 1)  # returns at once, writing nothing


@pytest.mark.django_db(transaction=True)
async def test_the_loop_samples_every_interval_and_prunes_until_cancelled(declared_file):
    old = sample_rows([DECLARED], datetime.now(UTC) - timedelta(days=30))
    await sync_to_async(InventorySample.objects.bulk_create)(old)
    task = asyncio.create_task(run_sampler(0.05, str(declared_file)))
    try:
        for _ in range(200):
            times = await sync_to_async(lambda: list(_times()))()
            count = len(times)
            if count >= 3 * 4 and min(times) > old[0].time:
                break
            await asyncio.sleep(0.05)
        assert min(times) > old[0].time  # the 30-day-old samples are gone
        assert count >= 3 * 4 and count % 4 == 0  # whole passes: one bulk_create each
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await sync_to_async(lambda: connection.close())()


@pytest.mark.django_db(transaction=True)
async def test_a_broken_declared_inventory_is_logged_and_the_loop_goes_on(tmp_path, caplog):
    broken = tmp_path / "inventory.json"
    broken.write_text("{not json")
    task = asyncio.create_task(run_sampler(0.05, str(broken)))
    try:
        with caplog.at_level(logging.ERROR, logger="chungus.fleet"):
            for _ in range(100):
                if len(caplog.records) >= 2:
                    break
                await asyncio.sleep(0.05)
        assert len(caplog.records) >= 2 and "sampling the inventory failed" in caplog.text
        assert not task.done()
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await sync_to_async(lambda: connection.close())()
