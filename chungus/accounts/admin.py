"""API keys and user quotas in Django's admin."""

from django import forms
from django.contrib import admin

from chungus.accounts.models import ApiKey, UserQuota
from chungus.lib import names


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = "__all__"

    def clean_name(self) -> str:
        stored = self.instance.name if self.instance.pk else None
        return names.check_renamed("key", self.cleaned_data["name"], stored)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = (
        "name",
        "prefix",
        "owner",
        "scope",
        "is_active",
        "rpm",
        "rph",
        "tpm",
        "expires_at",
        "created_at",
    )
    list_filter = ("is_active", "scope", "owner")
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "key_hash", "created_at", "revoked_at")


@admin.register(UserQuota)
class UserQuotaAdmin(admin.ModelAdmin):
    list_display = ("user", "max_keys", "max_rpm", "max_tpm")
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)
