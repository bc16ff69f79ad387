"""Request bodies over a size limit are refused before they are read, with a 413 the client
can read (ASGI middleware, and the drain that the /v1 reader shares).

Django's ASGI handler reads a whole body (spooling it to disk) before any view or setting
looks at it, so the limit must be checked in front of it: a declared Content-Length over
the limit is refused at once, and a streamed (chunked) body is counted as it arrives and
cut off where it passes the limit.

A client such as httpx or OpenAI's sends the whole body before it reads the answer: a
server that answers and closes mid-body leaves it with a reset connection instead of
the 413. So the rest of the body is read and thrown away before answering, within a
bound (DRAIN_BYTES, DRAIN_SECONDS) so that refusing a body costs a bounded amount of
work; a body past the bound gets its 413 with `Connection: close`, and the connection
ends there (that client may see a reset: it sent far more than anyone should). Any other
answer sent before a body without a bound ended (a 401 to a chunked upload) closes the
connection too: the server would otherwise read and drop that body for as long as it came.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chungus.lib.openai_errors import PayloadTooLarge

DRAIN_BYTES = 128 * 1024 * 1024  # read and thrown away past the limit, at most
DRAIN_SECONDS = 30.0  # spent reading and throwing away, at most

Limit = Callable[[str], int | None]  # a path's body limit in bytes; None: not checked here


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes.")


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, None when it has none (or one that is not a number)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def drain(
    chunks: AsyncIterator[bytes], bound: int = DRAIN_BYTES, seconds: float = DRAIN_SECONDS
) -> bool:
    """Read and drop the rest of a body; True when it ended within the bounds."""
    dropped = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in chunks:
                dropped += len(chunk)
                if dropped > bound:
                    return False
    except (TimeoutError, ClientDisconnect):
        return False
    return True


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The body's chunks still to come through an ASGI `receive`; stops at a disconnect."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def refuse(send: Send, limit: int, complete: bool) -> None:
    """Answer 413 in OpenAI's envelope; `Connection: close` when the body was not all read."""
    error = too_large(limit)
    headers = [(b"content-type", b"application/json")]
    if not complete:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": error.body()})


class BodyLimit:
    """ASGI middleware: bodies over `limit_for(path)` bytes get a 413 before the app reads
    them (paths for which it answers None are not limited here: they check their own).

    On every path, an app that answers before it has read the body (a 401, a 404) leaves
    the rest to the server, which reads and drops it; where that could go on without end
    (a chunked body, or one declared larger than the drain bound) the answer gets
    `Connection: close`, so the server stops reading there."""

    def __init__(
        self,
        app: ASGIApp,
        limit_for: Limit,
        drain_bytes: int = DRAIN_BYTES,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.bounds = (drain_bytes, drain_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = declared_length(scope)
        if limit is not None and declared is not None and declared > limit:
            # A client that waits for "100 Continue" has sent nothing: answer, do not ask.
            complete = not _waits_to_send(scope) and await drain(
                _body_chunks(receive), *self.bounds
            )
            await refuse(send, limit, complete)
            return
        chunked = declared is None and _has_header(scope, b"transfer-encoding")
        endless = chunked or (declared or 0) > self.bounds[0]
        if limit is None and not endless:
            await self.app(scope, receive, send)  # nothing to count or to close: no wrapper
            return
        watched = _Watched(limit, endless, receive, send)
        await self.app(scope, watched.receive, watched.send)
        if limit is not None and watched.over and not watched.started:
            complete = watched.ended or await drain(_body_chunks(receive), *self.bounds)
            await refuse(send, limit, complete)


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(n == name for n, _ in scope.get("headers", ()))


def _waits_to_send(scope: Scope) -> bool:
    headers = scope.get("headers", ())
    return any(n == b"expect" and v.lower() == b"100-continue" for n, v in headers)


class _Watched:
    """One request's body, counted as the app reads it. Past the limit the app is told
    that the client left (Django then stops reading and answers nothing) and BodyLimit
    answers the 413; an answer sent before an `endless` body ended closes the connection."""

    def __init__(self, limit: int | None, endless: bool, receive: Receive, send: Send) -> None:
        self.limit, self.endless, self._receive, self._send = limit, endless, receive, send
        self.received, self.over, self.ended, self.started = 0, False, False, False

    async def receive(self) -> Message:
        if self.over:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.ended = not message.get("more_body", False)
            if self.limit is not None and self.received > self.limit:
                self.over = True
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            headers = list(message.get("headers", ()))
            if (
                self.endless
                and not self.ended
                and not any(n.lower() == b"connection" for n, _ in headers)
            ):
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await self._send(message)


def path_limits(default: int, larger: dict[str, int], unchecked: tuple[str, ...] = ()) -> Limit:
    """The limit for each path: `larger[path]` for the paths named there (uploads), None
    below the `unchecked` prefixes (they check their own bodies), else `default` (pure)."""

    below = tuple(p + "/" for p in unchecked)

    def limit_for(path: str) -> int | None:
        if path.startswith(below) or path in unchecked:
            return None
        return larger.get(path, default)

    return limit_for
