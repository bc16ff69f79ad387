"""Bounds on a request's head (its request line and headers): how long a client may take to
send it, and how large it may be.

uvicorn's httptools protocol has neither. A connection that never finishes its head holds
one of CHUNGUS_LIMIT_CONCURRENCY's places for ever (its keep-alive timer runs only after a
response, and the first byte that arrives stops it), so that many idle or slow-loris sockets
make every other client get 503; and httptools gathers a header of any size. Here a timer
starts when a connection is made and again after each response, the head's end stops it,
and when it fires the connection is closed. A head larger than its bound is answered 431.
"""

from __future__ import annotations

import asyncio

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

HEADER_LINE_OVERHEAD = len(b": \r\n")
TOO_LARGE = b"Request head too large."


class HeadTooLarge(httptools.HttpParserError):
    """Raised in a parser callback to stop parsing a head over its bound."""


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head timeout and a head size bound (see the
    module docstring); `bounded_head_protocol` gives it its values."""

    head_timeout: float = 10.0
    max_head_bytes: int = 16 * 1024

    head_timer: asyncio.TimerHandle | None = None
    in_head = False
    head_too_large = False
    head_bytes = 0  # the request line and whole headers parsed so far
    head_tail = 0  # bytes of later reads that all fell inside one unfinished head

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        continuing = self.in_head
        super().data_received(data)
        # httptools buffers a header until its line ends: a head begun in an earlier read
        # and still unfinished after this one holds all of this read.
        if continuing and self.in_head and not self.transport.is_closing():
            self.head_tail += len(data)
            if self.head_tail > self.max_head_bytes:
                self.refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head, self.head_bytes, self.head_tail = True, 0, 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + HEADER_LINE_OVERHEAD)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # its head is whole already: nothing to time
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._start_head_timer()

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error 400; one raised by _count is a head too large.
        if self.head_too_large:
            self.refuse_head()
        else:
            super().send_400_response(msg)

    def refuse_head(self) -> None:
        """Answer 431 and close: the head is over max_head_bytes."""
        self.head_too_large = True
        content = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(TOO_LARGE),
            b"connection: close\r\n\r\n",
            TOO_LARGE,
        ]
        self.transport.write(b"".join(content))
        self.transport.close()

    def head_timeout_handler(self) -> None:
        """The head did not arrive in time: close the connection."""
        self.head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _count(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > self.max_head_bytes:
            self.head_too_large = True
            raise HeadTooLarge(f"request head over {self.max_head_bytes} bytes")

    def _start_head_timer(self) -> None:
        self._stop_head_timer()
        self.head_timer = self.loop.call_later(self.head_timeout, self.head_timeout_handler)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None


def bounded_head_protocol(timeout: float, max_bytes: int) -> type[BoundedHeadProtocol]:
    """The protocol class to pass as uvicorn.Config(http=...): heads must arrive within
    `timeout` seconds of the connection (or of the last response) and hold at most
    `max_bytes` bytes."""

    class Bounded(BoundedHeadProtocol):
        head_timeout = timeout
        max_head_bytes = max_bytes

    return Bounded
