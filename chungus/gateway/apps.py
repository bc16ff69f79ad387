from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "chungus.gateway"
    label = "gateway"
