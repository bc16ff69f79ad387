from django.contrib import admin

from chungus.accounts.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "prefix",
        "owner",
        "is_active",
        "rpm",
        "rph",
        "tpm",
        "expires_at",
        "created_at",
    )
    list_filter = ("is_active", "owner")
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "key_hash", "created_at", "revoked_at")
