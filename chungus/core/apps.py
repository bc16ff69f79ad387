"""Cross-app bookkeeping (the configuration version, the audit log), as a Django app."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "chungus.core"
    label = "core"

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import post_save

        from chungus.core import audit, signals, user_audit

        signals.connect()
        user_audit.connect()
        post_save.connect(audit.from_admin_log, sender=LogEntry, dispatch_uid="audit-admin-log")
