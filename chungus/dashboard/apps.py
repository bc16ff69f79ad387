"""The web pages (home, dashboard, playground, own keys), as a Django app."""

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "chungus.dashboard"
    label = "dashboard"
