"""The /v1/files and /v1/batches routes on a Gateway in the test's own process, wired into
the data plane's app as chungus.runtime.build wires them (to look at its counters)."""

from __future__ import annotations

import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chungus.batches.batches_api import batch_routes
from chungus.batches.callers import Callers
from chungus.batches.files_api import file_routes
from chungus.gateway.app import PREFIXES, build_asgi
from chungus.gateway.service import Gateway


async def _no_django(scope: Scope, receive: Receive, send: Send) -> None:
    await Response(status_code=404)(scope, receive, send)


def batches_client(
    gateway: Gateway, max_file_bytes: int = 1024 * 1024, max_lines: int = 100
) -> httpx.AsyncClient:
    """An httpx client calling the app directly (no socket)."""
    callers = Callers(gateway)
    more = [
        *file_routes(callers, max_file_bytes, PREFIXES),
        *batch_routes(callers, max_lines, PREFIXES),
    ]
    app = build_asgi(
        gateway,
        lambda: {"ready": True, "checks": {}},
        list,
        _no_django,
        None,  # type: ignore[arg-type]
        more=more,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
