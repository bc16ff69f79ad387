"""API keys and user quotas in Django's admin."""

from django.contrib import admin

from chungus.accounts.models import ApiKey, UserQuota


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


@admin.register(UserQuota)
class UserQuotaAdmin(admin.ModelAdmin):
    list_display = ("user", "max_keys", "max_rpm", "max_tpm")
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)
