"""A Gateway inside the test's own process, over a fixed snapshot of keys and models.

For tests that look inside the data plane while it serves (its admission slots, its log
buffer, its metrics); engines behind it are real (llama-server) or never called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chungus.accounts.keyinfo import KeyInfo
from chungus.accounts.secrets import hash_secret
from chungus.core.routes import ModelInfo
from chungus.engines import registry
from chungus.gateway.app import build_asgi
from chungus.gateway.ratelimit import RateLimiter
from chungus.gateway.routing.admission import Admission
from chungus.gateway.service import Gateway, GatewayOptions
from chungus.gateway.snapshot import Snapshot, SnapshotStore
from chungus.gateway.upstream import EngineResponse, Upstream
from chungus.gateway.windows import LocalWindows
from chungus.telemetry.requestlog import LogBuffer


class RecordingUpstream(Upstream):
    """The real Upstream, keeping every engine response it returned (to see them closed)."""

    def __init__(self) -> None:
        super().__init__(connect_timeout=5, read_timeout=60)
        self.responses: list[EngineResponse] = []

    async def post(self, url: str, body: bytes, headers: Any) -> EngineResponse:
        response = await super().post(url, body, headers)
        self.responses.append(response)
        return response


def in_process_gateway(
    models: Sequence[ModelInfo],
    keys: dict[str, KeyInfo],
    logs: LogBuffer | None = None,
    options: GatewayOptions | None = None,
) -> Gateway:
    """A Gateway serving `models` to `keys` (by secret); call `upstream.start()` before use."""
    snapshot = Snapshot(
        version=1,
        keys={hash_secret(secret): key for secret, key in keys.items()},
        models={model.name: model for model in models},
    )
    return Gateway(
        store=SnapshotStore(lambda: snapshot.keys, lambda: snapshot.models, snapshot),
        limiter=RateLimiter(LocalWindows()),
        admission=Admission(max_queue=16, queue_timeout=30),
        upstream=RecordingUpstream(),
        logs=logs or LogBuffer(),
        adapters={name: engine.adapter for name, engine in registry.by_name().items()},
        options=options or GatewayOptions(),
    )


async def _no_django(scope: Scope, receive: Receive, send: Send) -> None:
    await Response(status_code=404)(scope, receive, send)


def asgi_client(
    gateway: Gateway, readiness: Callable[[], dict[str, Any]] | None = None
) -> httpx.AsyncClient:
    """An httpx client calling the gateway's ASGI app directly (no socket)."""
    app = build_asgi(
        gateway,
        readiness or (lambda: {"ready": True, "checks": {}}),
        list,
        _no_django,
        None,  # type: ignore[arg-type]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
