from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "chungus.accounts"
    label = "accounts"
