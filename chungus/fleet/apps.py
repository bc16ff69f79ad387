from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "chungus.fleet"
    label = "fleet"
