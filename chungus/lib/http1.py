"""A lean HTTP/1.1 client for calls to engines: asyncio protocols, httptools' parser, a pool.

aiohttp's client costs about 80 µs of CPU per request (its request and response objects,
header multidicts, payload registry, tracing hooks and timer handles), half of what a whole
pass-through proxy costs. The gateway's calls to engines need none of that: a POST of bytes
already built, to a few hosts, over kept-alive connections, answered with a status, a few
headers and a body read whole or as it comes. This client does that and only that:

- connections are pooled per (scheme, host, port), last used first, and never shared by two
  requests at once; one the server closed while idle is skipped;
- a request that fails on a reused connection before any byte of an answer came is sent
  again once on a new connection (servers close idle kept-alive connections unannounced);
- timeouts: `connect` for opening a connection, `read` for the longest silence while an
  answer is awaited or read (as aiohttp's sock_read);
- a streamed answer is read as it arrives, with reading paused while more than
  `BUFFER_BYTES` wait unread, so a slow client cannot make the gateway buffer without end;
- a waiting caller that is cancelled (its client left) closes the connection, which is how
  an engine learns to stop generating.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools

BUFFER_BYTES = 1 << 20  # unread answer bytes above which reading from the engine pauses
IDLE_SECONDS = 30.0  # a pooled connection unused this long is closed rather than reused
Target = tuple[str, str, int]  # scheme, host, port


class HTTPError(Exception):
    """A request that got no complete answer."""


class ConnectFailed(HTTPError):
    """No connection could be opened (refused, unreachable, no such host)."""


class ConnectTimeout(HTTPError):
    """Opening the connection took longer than the connect timeout."""


class ReadTimeout(HTTPError):
    """The server was silent for longer than the read timeout."""


class Disconnected(HTTPError):
    """The server closed the connection before its answer was complete."""


class BadResponse(HTTPError):
    """What the server sent is not HTTP."""


class Response:
    """An answer whose status line and headers have arrived; its body is read from it."""

    __slots__ = ("_buffered", "_chunks", "_conn", "_error", "complete", "head", "headers", "status")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.status = 0
        self.headers: dict[str, str] = {}  # names in lower case
        self.head = False  # the status line and headers are in
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self.complete = False
        self._error: HTTPError | None = None

    @property
    def closed(self) -> bool:
        """Whether it was released or closed (its connection is no longer its own)."""
        return self._conn.response is not self

    async def read(self) -> bytes:
        """The whole body."""
        while not self.complete:
            await self._conn.wait(self)
        return self._take()

    async def iter_any(self) -> AsyncIterator[bytes]:
        """The body as it arrives: whatever has come since the last chunk, joined."""
        while True:
            if self._chunks:
                yield self._take()
            elif self.complete:
                return
            else:
                await self._conn.wait(self)

    def release(self) -> None:
        """Done with it: its connection goes back to the pool if the answer was read whole
        and the server keeps it open, else it is closed."""
        self._conn.finished(self)

    def close(self) -> None:
        """Close its connection, whatever it was doing (an engine stops generating)."""
        if self._conn.response is self:
            self._conn.close()

    def _take(self) -> bytes:
        chunks = self._chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        if self._buffered > BUFFER_BYTES:
            self._conn.resume()
        self._buffered = 0
        return data


class Connection(asyncio.Protocol):
    """One kept-alive connection: at most one request on it at a time."""

    def __init__(self, pool: Pool, target: Target) -> None:
        self.pool, self.target = pool, target
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.closed = False
        self.keep = False  # the last answer allows another request on this connection
        self.answered = False  # bytes of an answer to the request in flight came
        self.waiter: asyncio.Future[None] | None = None
        self.last_read = 0.0  # loop time of the last bytes received
        self.idle_since = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.paused = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.last_read = self.loop.time()
        self.answered = True
        if self.response is None:  # nothing asked: a server talking out of turn
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(BadResponse("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(f"the server's answer is not HTTP/1.1: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        response = self.response
        if response is None or response.complete:
            return
        if response.status and not self._has_length(response):
            response.complete = True  # a body that ends where the connection does
        else:
            response._error = Disconnected("the server closed the connection mid-answer")
        self._wake()

    # httptools' callbacks
    def on_status(self, status: bytes) -> None:
        assert self.response is not None
        self.response.status = self.parser.get_status_code()

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.response is not None
        self.response.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        assert self.response is not None
        self.response.head = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        response = self.response
        assert response is not None
        response._chunks.append(body)
        response._buffered += len(body)
        if response._buffered > BUFFER_BYTES and not self.paused and self.transport:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        assert self.response is not None
        self.keep = self.parser.should_keep_alive()
        self.response.complete = True
        self._cancel_timer()
        self._wake()

    # the client's side
    async def send(self, request: bytes) -> Response:
        """Write the request; return its answer once the status and headers came."""
        assert self.transport is not None
        response = self.response = Response(self)
        self.keep = self.answered = False
        self.last_read = self.loop.time()
        self.timer = self.loop.call_at(self.last_read + self.pool.read_timeout, self._check)
        self.transport.write(request)
        while not response.head:
            await self.wait(response)
        return response

    async def wait(self, response: Response) -> None:
        """Wait for more of the answer; raise its error, if it failed."""
        if response._error is not None:
            raise response._error
        if self.response is not response:
            raise HTTPError("the answer was released or closed")
        self.waiter = self.loop.create_future()
        try:
            await self.waiter
        except BaseException:
            self.close()  # cancelled: the caller is gone, so is the request
            raise
        if response._error is not None:
            raise response._error

    def finished(self, response: Response) -> None:
        if self.response is not response:
            return
        self.response = None
        self._cancel_timer()
        if response.complete and self.keep and not self.closed and not self.paused:
            self.idle_since = self.loop.time()
            self.pool.put(self)
        else:
            self.close()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        self._cancel_timer()
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        response = self.response
        if response is not None and not response.complete and response._error is None:
            response._error = Disconnected("the connection was closed mid-answer")
            self._wake()
        self.response = None

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: HTTPError) -> None:
        if self.response is not None:
            self.response._error = error
        self._wake()
        self.close()

    def _check(self) -> None:
        """The read timeout's one timer per request: moved on while bytes keep coming."""
        self.timer = None
        silent = self.loop.time() - self.last_read
        if self.response is None or self.response.complete or self.closed:
            return
        if self.paused:  # the caller is not reading: its own business, not a timeout
            self.timer = self.loop.call_later(self.pool.read_timeout, self._check)
            return
        if silent >= self.pool.read_timeout:
            self._fail(ReadTimeout(f"no answer for {self.pool.read_timeout:g} s"))
            return
        self.timer = self.loop.call_at(self.last_read + self.pool.read_timeout, self._check)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    @staticmethod
    def _has_length(response: Response) -> bool:
        return "content-length" in response.headers or "transfer-encoding" in response.headers


class Pool:
    """Kept-alive connections per (scheme, host, port), and the requests sent over them."""

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.idle: dict[Target, deque[Connection]] = {}
        self._targets: dict[str, tuple[Target, bytes]] = {}  # url -> target, request line
        self._tls: ssl.SSLContext | None = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Response:
        """POST `body` to `url`; the answer once its status and headers came."""
        target, head = self._parse(url)
        lines = [head, b"Content-Length: ", str(len(body)).encode(), b"\r\n"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        lines += (b"\r\n", body)
        request = b"".join(lines)
        conn = self._reuse(target)
        if conn is not None:
            try:
                return await conn.send(request)
            except Disconnected:
                if conn.answered:
                    raise
                # closed while idle, and no byte of an answer came: send it again, once
        conn = await self._open(target)
        return await conn.send(request)

    def put(self, conn: Connection) -> None:
        self.idle.setdefault(conn.target, deque()).append(conn)

    def close(self) -> None:
        for idle in self.idle.values():
            for conn in idle:
                conn.close()
        self.idle.clear()

    def _reuse(self, target: Target) -> Connection | None:
        idle = self.idle.get(target)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn.close()
        return None

    async def _open(self, target: Target) -> Connection:
        scheme, host, port = target
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: Connection(self, target), host, port, ssl=tls
                )
        except TimeoutError:
            raise ConnectTimeout(
                f"no connection to {host}:{port} within {self.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {host}:{port}: {exc}") from exc
        return conn

    def _parse(self, url: str) -> tuple[Target, bytes]:
        known = self._targets.get(url)
        if known is not None:
            return known
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if port == default else f"{parts.hostname}:{port}"
        if ":" in parts.hostname:  # an IPv6 literal goes in brackets
            host = f"[{parts.hostname}]" + ("" if port == default else f":{port}")
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n".encode("latin-1")
        known = self._targets[url] = ((parts.scheme, parts.hostname, port), head)
        if len(self._targets) > 10_000:  # backends come and go; the cache must not grow
            self._targets.clear()
        return known

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls
