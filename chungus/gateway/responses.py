"""ASGI responses for the data plane: JSON errors and disconnect-aware event streams."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chungus.gateway.disconnect import ClientDisconnected, DisconnectGuard
from chungus.lib.openai_errors import APIError


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


def error_response(error: APIError) -> Response:
    return Response(
        error.body(), status_code=error.status, headers=error.headers, media_type="application/json"
    )


class EventStream(Response):
    """Streams server-sent events; the request's guard cancels it when the client leaves.

    `on_close` runs once the stream is over, however it ended. The events' own cleanup
    (their generator's `finally`) never runs when the generator was never started, as when
    the client left before the first byte: `on_close` is what releases the request then,
    so it must do nothing when the events already cleaned up.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncGenerator[bytes, None],
        guard: DisconnectGuard | None = None,
        headers: Mapping[str, str] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.events = events
        self.guard = guard
        self.on_close = on_close
        self.status_code = 200
        self.background = None
        self.init_headers(
            {"cache-control": "no-cache", "x-accel-buffering": "no", **(headers or {})}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            assert self.guard is not None, "the request's DisconnectGuard must be attached"
            with self.guard.watching():
                start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                await send(start)
                async for chunk in self.events:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except ClientDisconnected:
            pass
        finally:
            if self.guard is not None:
                self.guard.close()
            try:
                await self.events.aclose()
            finally:
                if self.on_close is not None:
                    self.on_close()
