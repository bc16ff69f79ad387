"""The front door of the process: completions go straight to the gateway, all else to Starlette.

Starlette's application stack (its error and exception middlewares, the router's walk over
every route, the per-route request wrapper) cost about as much CPU as the floor proxy spends
on a whole request. A POST to a completions path is what nearly all traffic is, so it is
matched by one dict lookup and handled here, with the same error handling the stack gives:
an APIError is answered in OpenAI's envelope, anything else is logged and answered 500.
Every other request, including a GET to these paths (a 405), goes through Starlette.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from chungus.gateway.responses import error_response
from chungus.lib.openai_errors import APIError, InternalError

logger = logging.getLogger("chungus.gateway")

Handler = Callable[[Request], Awaitable[Response]]


class Front:
    """ASGI app: `handlers[path]` answers POSTs to its path; `app` everything else."""

    def __init__(self, handlers: dict[str, Handler], app: ASGIApp) -> None:
        self.handlers = handlers
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.handlers.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except APIError as error:
            response = error_response(error)
        except Exception:
            logger.exception("unhandled error on POST %s", scope["path"])
            response = error_response(InternalError())
        await response(scope, receive, send)
