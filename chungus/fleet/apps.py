"""Models, backends, deployments and the inventory, as a Django app."""

from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "chungus.fleet"
    label = "fleet"
