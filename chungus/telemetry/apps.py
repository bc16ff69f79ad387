"""The request log, its rollups and GPU-free telemetry, as a Django app."""

from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "chungus.telemetry"
    # The label these tables were created under when they lived in chungus.gateway: kept, so
    # existing databases (gateway_requestlog, ...) and their migration history apply unchanged.
    label = "gateway"
