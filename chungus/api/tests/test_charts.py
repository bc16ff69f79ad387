"""/api/chart-data/: the dashboard's chart series, straight from chungus.telemetry.charts."""

from __future__ import annotations

import pytest

from chungus.api.tests.conftest import assert_error
from chungus.telemetry import charts

pytestmark = pytest.mark.django_db


def without_labels(data):
    return {name: value for name, value in data.items() if name != "labels"}


@pytest.mark.parametrize("window", ["1h", "24h", "7d"])
def test_it_answers_what_chart_data_computes(admin, window):
    response = admin.get("/api/chart-data/", {"window": window})
    assert response.status_code == 200
    data = response.json()
    expected = charts.chart_data(window)
    # Labels move with the clock; everything else must match exactly.
    assert without_labels(data) == without_labels(expected)
    assert len(data["labels"]) == len(expected["labels"]) and data["window"] == window


def test_the_window_defaults_to_one_hour(admin):
    assert admin.get("/api/chart-data/").json()["window"] == "1h"


def test_a_model_narrows_the_series_to_that_model(admin):
    data = admin.get("/api/chart-data/", {"window": "24h", "model": "gemma"}).json()
    expected = charts.chart_data("24h", model="gemma")
    assert without_labels(data) == without_labels(expected)
    assert data["models"] == ["gemma"]


def test_an_unknown_window_is_400(admin):
    error = assert_error(admin.get("/api/chart-data/", {"window": "2w"}), 400, param="window")
    assert "2w" in error["message"]


def test_a_model_with_nul_is_422_not_a_database_error(admin):
    response = admin.get("/api/chart-data/", {"window": "1h", "model": "gemma\x00"})
    assert_error(response, 422, param="model")
