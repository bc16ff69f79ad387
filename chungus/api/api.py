"""The management API: one NinjaAPI, its auth, its error envelope and its routers."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path
from ninja import NinjaAPI

from chungus.api.auth import AdminKey, AdminSession
from chungus.api.errors import enveloped_405, install_error_handlers
from chungus.api.routers import charts, deployments, gpu_history, gpu_holders, jobs, keys, models

DESCRIPTION = """\
The JSON API behind the CHUNGUS dashboard. Every operation needs a superuser
(jobs, under /api/jobs/, need any signed-in user, who sees only their own jobs):
either `Authorization: Bearer <API key>` with an admin key that user owns (made with
`chungus keys create --owner USER --admin`; an inference key gets 403), or a signed-in
session, whose POSTs carry the `csrftoken` cookie's value in `X-CSRFToken`.
Errors use OpenAI's envelope: `{"error": {"message", "type", "param", "code"}}`.
"""


def build_api() -> NinjaAPI:
    """Build the API; Django's URLconf (chungus.api.urls) mounts it under /api/."""
    api = NinjaAPI(
        title="CHUNGUS management API",
        version="1",
        description=DESCRIPTION,
        urls_namespace="management-api",
        auth=[AdminKey(), AdminSession()],
    )
    install_error_handlers(api)
    api.add_router("/models/", models.router)
    api.add_router("/keys/", keys.router)
    api.add_router("/deployments/", deployments.router)
    api.add_router("/chart-data/", charts.router)
    api.add_router("/fleet/", gpu_history.router)
    api.add_router("/jobs/", jobs.router)
    api.add_router("/fleet/", gpu_holders.router)
    return api


def routes(api: NinjaAPI) -> URLResolver:
    """Return the API's URL patterns, each answering a wrong method with the envelope."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = enveloped_405(pattern.callback)
    return path("", include((patterns, app_name), namespace=namespace))
