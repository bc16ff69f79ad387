"""Cross-app bookkeeping (the configuration version), as a Django app."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "chungus.core"
    label = "core"

    def ready(self) -> None:
        from chungus.core import signals  # noqa: F401  (connects the version bump)
