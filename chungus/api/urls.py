"""The management API (the dashboard's JSON API) under /api/, with its OpenAPI schema
at /api/openapi.json and Swagger UI, from local static files, at /api/docs."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

from chungus.api.api import build_api, routes

api = build_api()
urlpatterns: list[URLPattern | URLResolver] = [routes(api)]
