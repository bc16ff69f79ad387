"""Models and backends in Django's admin."""

from django import forms
from django.contrib import admin

from chungus.fleet.models import Backend, Model
from chungus.lib import names


class ModelForm(forms.ModelForm):
    class Meta:
        model = Model
        fields = "__all__"

    def clean_name(self) -> str:
        stored = self.instance.name if self.instance.pk else None
        return names.check_renamed("model", self.cleaned_data["name"], stored)


class BackendInline(admin.TabularInline):
    model = Backend
    extra = 0


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    form = ModelForm
    list_display = ("name", "created_at")
    search_fields = ("name",)
    inlines = [BackendInline]


@admin.register(Backend)
class BackendAdmin(admin.ModelAdmin):
    list_display = ("model", "url", "engine", "upstream_model", "max_concurrency", "managed_by")
    list_filter = ("engine", "managed_by")
    search_fields = ("url", "model__name")
