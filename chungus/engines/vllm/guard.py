"""A bearer-key guard in front of every path of a vLLM that listens on the network.

vLLM's own key (`--api-key`, VLLM_API_KEY) guards only the paths under /v1 (its
AuthenticationMiddleware): `/invocations` (SageMaker's, which runs chat and completions),
`/pooling`, `/classify`, `/score`, `/rerank`, `/tokenize`, `/metrics`, `/load`, `/ping` and
the dev endpoints answer whoever reaches the port. So a vLLM that CHUNGUS starts on another
node runs with `--middleware chungus.engines.vllm.guard.BearerGuard`, which vLLM installs
with `app.add_middleware(BearerGuard)`, outside its own: every HTTP request and websocket
must carry `Authorization: Bearer $VLLM_API_KEY`, except GET /health (liveness). Anything
else gets a 401 in OpenAI's error envelope, and vLLM never sees it.

It runs inside vLLM's process, possibly another Python than CHUNGUS's: the standard
library only.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KEY_ENV = "VLLM_API_KEY"
OPEN_PATH = "/health"  # GET only: whoever watches the node may see that it is up
POLICY_VIOLATION = 1008  # websocket close code, where the server cannot answer a 401
MESSAGE = "This vLLM answers CHUNGUS only: send its key as 'Authorization: Bearer KEY'."
_BODY = json.dumps(
    {
        "error": {
            "message": MESSAGE,
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
).encode()
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
    (b"www-authenticate", b"Bearer"),
]


class BearerGuard:
    """ASGI middleware: refuse what does not carry the bearer key in VLLM_API_KEY.

    Raises RuntimeError when VLLM_API_KEY is empty: vLLM then fails to start (or answers
    500) rather than serve without a key."""

    def __init__(self, app: ASGIApp) -> None:
        key = os.environ.get(KEY_ENV, "")
        if not key:
            raise RuntimeError(f"{KEY_ENV} is empty: the guard will not let vLLM serve openly")
        self.app = app
        self._key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or self._allowed(scope):  # lifespan passes
            await self.app(scope, receive, send)
        elif kind == "http":
            await send({"type": "http.response.start", "status": 401, "headers": _HEADERS})
            await send({"type": "http.response.body", "body": _BODY})
        else:
            await _refuse_websocket(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        if scope["type"] == "http" and scope.get("method") == "GET" and _path(scope) == OPEN_PATH:
            return True
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":  # the first one counts
                scheme, _, token = bytes(value).partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._key)
        return False


def _path(scope: Scope) -> str:
    """The request's path below the server's root path (vLLM's --root-path)."""
    path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    """Refuse the handshake: a 401 where the server offers ASGI's denial response, else a
    close (an HTTP 403 to the client)."""
    if (await receive())["type"] != "websocket.connect":
        return  # the client left first
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": 401, "headers": _HEADERS})
        await send({"type": "websocket.http.response.body", "body": _BODY})
    else:
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})
