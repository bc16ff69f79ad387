"""The management API (the dashboard's JSON API), built in chungus/api/."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
