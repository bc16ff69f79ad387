from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "chungus.dashboard"
    label = "dashboard"
