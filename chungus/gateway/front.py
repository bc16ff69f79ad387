"""The front door of the process: completions go straight to the gateway, all else to Starlette.

Starlette's application stack (its error and exception middlewares, the router's walk over
every route, the per-route request wrapper) cost about as much CPU as the floor proxy spends
on a whole request. A POST to a completions path is what nearly all traffic is, so it is
matched by one dict lookup and handled here, an exception going to the same handler the
stack uses. Every other request, including a GET to these paths (a 405), goes through Starlette.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class Front:
    """ASGI app: `handlers[path]` answers POSTs to its path, `on_error` what they raise;
    `app` answers everything else."""

    def __init__(self, handlers: dict[str, Handler], app: ASGIApp, on_error: ErrorHandler) -> None:
        self.handlers = handlers
        self.app = app
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.handlers.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except Exception as exc:
            response = await self.on_error(request, exc)
        await response(scope, receive, send)
