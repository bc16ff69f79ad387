"""Jobs (molecular dynamics, commands) on the shared GPU pool, as a Django app."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "chungus.fleet.jobs"
    label = "jobs"
    verbose_name = "Jobs"
