"""The request log in Django's admin, read-only."""

from django.contrib import admin

from chungus.telemetry.models import RequestLog


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    list_display = (
        "created_at", "key_name", "model", "status", "stream",
        "prompt_tokens", "completion_tokens", "latency_ms", "ttft_ms", "error_type",
    )  # fmt: skip
    list_filter = ("status", "stream", "model", "error_type")
    search_fields = ("key_name", "model", "backend")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
