from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "chungus.api"
    label = "api"
