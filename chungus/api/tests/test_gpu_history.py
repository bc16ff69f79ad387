"""/api/fleet/gpu-history/: the GPU chart, straight from chungus.fleet.inventory.gpu_history."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from chungus.api.tests.conftest import assert_error
from chungus.fleet.inventory import gpu_history
from chungus.fleet.models import InventorySample

pytestmark = pytest.mark.django_db

URL = "/api/fleet/gpu-history/"


@pytest.fixture
def samples(db):
    now = int(time.time())
    for gpu, used in ((InventorySample.HOST, 3000), (0, 20000), (1, 40000)):
        InventorySample.objects.create(
            time=now, node="gpu-01", gpu=gpu, memory_used_mb=used, memory_total_mb=80000
        )


@pytest.mark.parametrize("window", ["1h", "24h", "7d"])
def test_a_superuser_gets_what_gpu_history_computes(admin, samples, window):
    response = admin.get(URL, {"window": window})
    assert response.status_code == 200
    data = response.json()
    expected = gpu_history.gpu_history(window)
    assert data["gpus"] == expected["gpus"] and data["hosts"] == expected["hosts"]
    assert [g["memory_used_pct"][-1] for g in data["gpus"]] == [25.0, 50.0]
    assert data["window"] == window and len(data["labels"]) == len(expected["labels"])


def test_the_window_defaults_to_one_hour_and_it_says_how_often_it_samples(admin):
    data = admin.get(URL).json()
    assert data["window"] == "1h" and data["sample_seconds"] == 30.0
    with override_settings(CHUNGUS_INVENTORY_SAMPLE_SECONDS=0.0):
        assert admin.get(URL).json()["sample_seconds"] == 0.0


def test_an_unknown_window_is_400(admin):
    error = assert_error(admin.get(URL, {"window": "2w"}), 400, param="window")
    assert "2w" in error["message"] and error["code"] == "unknown_window"


def test_anonymous_and_non_superusers_are_refused(base, samples):
    assert_error(base.client().get(URL), 401)
    assert_error(base.client(base.owner).get(URL), 403)
    assert_error(base.bearer(base.owner_secret).get(URL), 403)
    assert base.bearer(base.admin_secret).get(URL).status_code == 200
