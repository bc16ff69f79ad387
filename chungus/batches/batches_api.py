"""/v1/batches: create, list, retrieve and cancel a tenant's batches (OpenAI's Batch API).

Thin handlers: the key is checked against the data plane's snapshot (as are the models each
line names), the work is done by chungus.batches.batches off the event loop.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches import batches
from chungus.batches.callers import Callers
from chungus.gateway.responses import json_response
from chungus.gateway.service import read_body
from chungus.gateway.snapshot import Snapshot
from chungus.lib.dbthreads import off_loop
from chungus.lib.openai_errors import InvalidRequest
from chungus.telemetry.entries import bounded_text

MAX_CREATE_BODY = 64 * 1024


def model_check(snapshot: Snapshot, key: KeyInfo) -> batches.ModelCheck:
    """Why a line's model may not be used by the key, None when it may."""

    def why(name: str) -> str | None:
        if name not in snapshot.models:
            return f"The model '{bounded_text(name, 200)}' does not exist."
        if key.allowed_models and name not in key.allowed_models:
            return f"This API key is not allowed to use the model '{name}'."
        return None

    return why


def batch_routes(callers: Callers, max_lines: int, prefixes: tuple[str, ...]) -> list[BaseRoute]:
    """The /v1/batches routes under every prefix."""

    async def create(request: Request) -> Response:
        key = await callers.key(request)
        raw = await read_body(request, MAX_CREATE_BODY)  # 413 past it, never read whole
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidRequest("The body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise InvalidRequest("The body must be a JSON object.")
        work = off_loop(batches.create)
        return json_response(
            await work(key, body, model_check(callers.gateway.store.current, key), max_lines)
        )

    async def listing(request: Request) -> Response:
        limit = request.query_params.get("limit", "20")
        if not limit.isdigit():
            raise InvalidRequest("limit must be a whole number.", param="limit")
        work = off_loop(batches.listing)
        return json_response(
            await work(await callers.key(request), int(limit), request.query_params.get("after"))
        )

    async def retrieve(request: Request) -> Response:
        work = off_loop(batches.retrieve)
        return json_response(
            await work(await callers.key(request), request.path_params["batch_id"])
        )

    async def cancel(request: Request) -> Response:
        work = off_loop(batches.cancel)
        return json_response(
            await work(await callers.key(request), request.path_params["batch_id"])
        )

    routes: list[BaseRoute] = []
    for prefix in prefixes:
        routes += [
            Route(f"{prefix}/batches", create, methods=["POST"]),
            Route(f"{prefix}/batches", listing, methods=["GET"]),
            Route(f"{prefix}/batches/{{batch_id}}", retrieve, methods=["GET"]),
            Route(f"{prefix}/batches/{{batch_id}}/cancel", cancel, methods=["POST"]),
        ]
    return routes
