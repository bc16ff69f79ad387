"""Stopping work the moment a client goes away, so the engine stops generating."""

from __future__ import annotations

import asyncio
from types import TracebackType

from starlette.types import Receive


class ClientDisconnected(Exception):
    """The client closed the connection before the answer was complete."""


class DisconnectGuard:
    """Cancels the request's task when its client disconnects.

    uvicorn drops writes to a closed connection silently, so without a
    listener an upstream request would run to its end. One guard serves a
    request from the moment its body has been read (every later message is a
    disconnect) until its response is finished, stream included.
    """

    def __init__(self, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.gone = False
        self.closed = False
        self._watcher = asyncio.create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self.closed:
            self.gone = True
            self.task.cancel()

    def watching(self) -> DisconnectGuard:
        """`with guard.watching():` turns the cancellation this guard caused into
        ClientDisconnected. A plain (not async) context manager: it runs per request, and
        an async one costs a generator and its frames for each."""
        return self

    def __enter__(self) -> None:
        pass

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is asyncio.CancelledError and self.gone:
            self.task.uncancel()
            raise ClientDisconnected from None

    def close(self) -> None:
        """Stop guarding. The watcher is not cancelled: the server's next answer to it, once
        the response is complete, is a disconnect, and it ends then (a cancellation costs
        its task an exception thrown through the server's frames, on every request)."""
        self.closed = True
