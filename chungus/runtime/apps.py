"""The composition root as a Django app, so that `chungus serve` is one of its commands."""

from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    name = "chungus.runtime"
    label = "runtime"
