"""Users, API keys and quotas, as a Django app."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "chungus.accounts"
    label = "accounts"

    def ready(self) -> None:
        from chungus.accounts import receivers

        receivers.connect()
