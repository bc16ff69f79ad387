"""Folding@Home on idle GPUs (the background tier's client), as a Django app."""

from django.apps import AppConfig


class FahConfig(AppConfig):
    name = "chungus.fleet.fah"
    label = "fah"
    verbose_name = "Folding@Home"
