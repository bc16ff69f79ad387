"""ASGI responses for the data plane: JSON errors and disconnect-aware event streams."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chungus.gateway.disconnect import ClientDisconnected, DisconnectGuard
from chungus.lib.openai_errors import APIError


def error_response(error: APIError) -> Response:
    return Response(
        error.body(), status_code=error.status, headers=error.headers, media_type="application/json"
    )


class EventStream(Response):
    """Streams server-sent events; the request's guard cancels it when the client leaves."""

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncGenerator[bytes, None],
        guard: DisconnectGuard | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.events = events
        self.guard = guard
        self.status_code = 200
        self.background = None
        self.init_headers(
            {"cache-control": "no-cache", "x-accel-buffering": "no", **(headers or {})}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.guard is not None, "the request's DisconnectGuard must be attached"
        try:
            async with self.guard.watching():
                start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                await send(start)
                async for chunk in self.events:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except ClientDisconnected:
            pass
        finally:
            self.guard.close()
            await self.events.aclose()
