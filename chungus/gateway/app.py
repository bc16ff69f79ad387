"""The lean ASGI app for /v1 (and the original /api/v1 paths), beside Django."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Lifespan

from chungus.gateway import catalog
from chungus.gateway.front import ErrorHandler, Front, Handler
from chungus.gateway.responses import error_response, json_response
from chungus.gateway.service import Gateway
from chungus.gateway.status import fleet_status, require_admin
from chungus.gateway.unauthenticated import Unauthenticated
from chungus.lib.openai_errors import (
    INVALID_REQUEST,
    APIError,
    AuthenticationFailed,
    InternalError,
    MethodNotAllowed,
    NotFound,
    error_body,
)

logger = logging.getLogger("chungus.gateway")
PREFIXES = ("/v1", "/api/v1")
_METHODS = {"chat/completions": "POST", "completions": "POST", "models": "GET"}


Readiness = Callable[[], dict[str, Any]]
Nodes = Callable[[], list[dict[str, Any]]]  # the inventory, JSON-ready; blocks (NVML)
# Whether the request's cookies are a signed-in operator's session (the dashboard's live load).
OperatorSession = Callable[[dict[str, str]], Awaitable[bool]]


def completion_handlers(gateway: Gateway) -> dict[str, Handler]:
    """The completion endpoints by path, under every prefix (the front door's fast path)."""

    async def chat(request: Request) -> Response:
        return await gateway.complete(request, "chat/completions", chat=True)

    async def completions(request: Request) -> Response:
        return await gateway.complete(request, "completions", chat=False)

    handlers: dict[str, Handler] = {}
    for prefix in PREFIXES:
        handlers |= {f"{prefix}/chat/completions": chat, f"{prefix}/completions": completions}
    return handlers


def data_plane_routes(
    gateway: Gateway,
    readiness: Readiness,
    nodes: Nodes,
    operator_session: OperatorSession | None = None,
    more: Sequence[BaseRoute] = (),
) -> list[BaseRoute]:
    """Return the /v1 routes (`more` among them: the files and batches), the health, metrics
    and fleet routes, and OpenAI-style 404s."""

    async def operator(request: Request) -> None:
        """An admin key; without an Authorization header, a superuser's session (a GET that
        changes nothing, so no CSRF token is needed)."""
        auth = request.headers.get("authorization")
        session = auth is None and operator_session is not None and bool(request.cookies)
        if session and operator_session and await operator_session(dict(request.cookies)):
            return
        require_admin(gateway.store.current, auth)

    handlers = completion_handlers(gateway)
    chat, completions = handlers["/v1/chat/completions"], handlers["/v1/completions"]

    async def models(request: Request) -> Response:
        key = await gateway.caller(request.headers.get("authorization"))
        return json_response(catalog.list_models(gateway.store.current, key))

    async def model(request: Request) -> Response:
        key = await gateway.caller(request.headers.get("authorization"))
        model_id = request.path_params["model_id"]
        return json_response(catalog.get_model(gateway.store.current, key, model_id))

    async def unknown(request: Request) -> Response:
        allowed = _METHODS.get(request.path_params["rest"])
        if allowed:
            raise MethodNotAllowed(
                f"{request.url.path} accepts {allowed}, not {request.method}.",
                headers={"Allow": allowed},
            )
        raise NotFound(f"Unknown path: {request.method} {request.url.path}.", code="unknown_url")

    async def status(request: Request) -> Response:
        await operator(request)
        return json_response(fleet_status(gateway.store.current, gateway.admission))

    async def fleet_nodes(request: Request) -> Response:
        await operator(request)
        hosts = await asyncio.to_thread(nodes)
        return json_response({"object": "fleet.nodes", "nodes": hosts})

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        state = readiness()
        return json_response(state, 200 if state["ready"] else 503)

    async def metrics(request: Request) -> Response:
        """Prometheus exposition: counts only, never names or keys (so no key is needed)."""
        return Response(generate_latest(gateway.metrics), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/api/fleet/status", status),
        Route("/api/fleet/nodes", fleet_nodes),
        *more,
    ]
    for prefix in PREFIXES:
        routes += [
            Route(f"{prefix}/chat/completions", chat, methods=["POST"]),
            Route(f"{prefix}/completions", completions, methods=["POST"]),
            Route(f"{prefix}/models", models, methods=["GET"]),
            Route(f"{prefix}/models/{{model_id:path}}", model, methods=["GET"]),
            Route(
                f"{prefix}/{{rest:path}}",
                unknown,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            ),
        ]
    return routes


async def _error(request: Request, exc: Exception) -> Response:
    """An APIError in OpenAI's envelope; anything else is a bug of ours: logged, and a 500
    that says no more (for the Starlette stack and the front door alike)."""
    if isinstance(exc, APIError):
        return error_response(exc)
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(InternalError())


def counting_refusals(unauthenticated: Unauthenticated) -> ErrorHandler:
    """`_error`, counting every 401 below the /v1 prefixes (models, files, batches) as the
    completions count theirs: on /metrics, never one request-log row each."""
    below = tuple(prefix + "/" for prefix in PREFIXES)

    async def handle(request: Request, exc: Exception) -> Response:
        if isinstance(exc, AuthenticationFailed) and request.scope["path"].startswith(below):
            unauthenticated.record(exc.code or exc.type)
        return await _error(request, exc)

    return handle


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    body = error_body(str(exc.detail), INVALID_REQUEST)
    return Response(body, exc.status_code, headers=exc.headers, media_type="application/json")


def static_files() -> StaticFiles:
    """CHUNGUS's, the admin's and the API docs' static files, straight from their packages."""
    return StaticFiles(
        packages=[
            ("chungus.dashboard", "static"),
            ("django.contrib.admin", "static"),
            ("ninja", "static"),
        ]
    )


def build_asgi(
    gateway: Gateway,
    readiness: Readiness,
    nodes: Nodes,
    django_app: ASGIApp,
    lifespan: Lifespan[Any],
    operator_session: OperatorSession | None = None,
    more: Sequence[BaseRoute] = (),
) -> Front:
    """Return the process's ASGI app: completions at the front door, then the data plane's
    other routes, Django for the rest."""
    routes = [
        *data_plane_routes(gateway, readiness, nodes, operator_session, more),
        Mount("/static", app=static_files(), name="static"),
        Mount("/", app=django_app),
    ]
    errors = counting_refusals(gateway.unauthenticated)
    stack = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            APIError: errors,
            HTTPException: _http_error,
            Exception: errors,
        },
    )
    return Front(completion_handlers(gateway), stack, errors)
