"""The /api-docs/ page (built in chungus/api/)."""

from django.http import HttpRequest, HttpResponse


def api_docs(request: HttpRequest) -> HttpResponse:
    return HttpResponse("API docs: coming with the management API.")
