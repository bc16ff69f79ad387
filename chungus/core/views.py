"""Django-side pages and error handlers (the data plane has its own)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from chungus.gateway.errors import error_envelope


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    envelope = error_envelope(
        f"Unknown path: {request.path}", "invalid_request_error", None, "unknown_url"
    )
    return JsonResponse(envelope, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    envelope = error_envelope(
        "The server had an error processing your request.", "api_error", None, "internal_error"
    )
    return JsonResponse(envelope, status=500)
