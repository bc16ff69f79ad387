"""The /api-docs/ page: the OpenAI-compatible endpoints with examples, and the management API."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from chungus.api.examples import openai_examples
from chungus.api.reference import operations
from chungus.api.urls import api
from chungus.fleet.models import Model


def api_docs(request: HttpRequest) -> HttpResponse:
    """Render the page; the examples use this request's host as the base URL."""
    base_url = request.build_absolute_uri("/").rstrip("/")
    model = Model.objects.values_list("name", flat=True).first()
    context = {
        "base_url": base_url,
        "examples": openai_examples(base_url, model or settings.CHUNGUS_DEFAULT_MODEL_NAME),
        "operations": operations(api.get_openapi_schema()),
        "swagger_url": reverse(f"{api.urls_namespace}:openapi-view"),
        "openapi_url": reverse(f"{api.urls_namespace}:openapi-json"),
    }
    return render(request, "api/docs.html", context)
