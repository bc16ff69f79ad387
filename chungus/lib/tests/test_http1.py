"""The engine client against real sockets: a raw asyncio server per test that answers as
engines do, and as broken ones do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from chungus.lib import http1
from chungus.lib.http1 import Pool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def request(self, reader: asyncio.StreamReader) -> bytes:
        """Read one request (head and Content-Length body)."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        self.requests.append(head + await reader.readexactly(length))
        return self.requests[-1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"


@asynccontextmanager
async def serving(handler: Callable[[Server], Handler]) -> AsyncIterator[Server]:
    server = Server(lambda r, w: asyncio.sleep(0))
    server.handler = handler(server)
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()


def kept_alive(answer: bytes = OK) -> Callable[[Server], Handler]:
    def handler(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                await server.request(reader)
                writer.write(answer)
                await writer.drain()

        return handle

    return handler


async def test_answers_are_read_whole_over_one_kept_alive_connection():
    async with serving(kept_alive()) as server:
        pool = Pool(connect_timeout=2, read_timeout=5)
        for _ in range(3):
            response = await pool.post(server.url, b'{"a": 1}', {"Content-Type": "text/x"})
            assert (response.status, response.headers["content-type"]) == (200, "application/json")
            assert await response.read() == b"{}"
            response.release()
            assert response.closed
        pool.close()
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in first
    assert b"Content-Length: 8\r\n" in first and b"Content-Type: text/x\r\n" in first
    assert first.endswith(b'\r\n\r\n{"a": 1}')


async def test_a_chunked_stream_is_read_as_it_comes():
    go_on = asyncio.Event()

    def handler(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(b"7\r\ndata: 1\r\n")
            await writer.drain()
            await go_on.wait()
            writer.write(b"7\r\ndata: 2\r\n0\r\n\r\n")
            await writer.drain()
            await reader.read()

        return handle

    async with serving(handler) as server:
        pool = Pool(connect_timeout=2, read_timeout=5)
        response = await pool.post(server.url, b"{}", {})
        chunks = response.iter_any()
        assert await anext(chunks) == b"data: 1"  # before the server sent the rest
        go_on.set()
        assert [c async for c in chunks] == [b"data: 2"]
        assert response.complete
        response.release()
        pool.close()


async def test_a_body_without_a_length_ends_where_the_connection_does():
    def handler(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
            await writer.drain()

        return handle

    async with serving(handler) as server:
        pool = Pool(connect_timeout=2, read_timeout=5)
        response = await pool.post(server.url, b"{}", {})
        assert await response.read() == b"all of it"
        response.release()
        assert not pool.idle.get(("http", "127.0.0.1", server.port)), "not kept"


async def test_a_connection_the_server_closed_while_idle_is_not_a_failure():
    def handler(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.request(reader)  # one answer per connection, unannounced
            writer.write(OK)
            await writer.drain()

        return handle

    async with serving(handler) as server:
        pool = Pool(connect_timeout=2, read_timeout=5)
        for _ in range(3):
            response = await pool.post(server.url, b"{}", {})
            assert await response.read() == b"{}"
            response.release()
            await asyncio.sleep(0.05)  # the close reaches the client, or not yet: both work
        pool.close()
    assert server.connections == 3


async def test_a_server_that_hangs_up_mid_answer_is_disconnected():
    def handler(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf")
            await writer.drain()

        return handle

    async with serving(handler) as server:
        pool = Pool(connect_timeout=2, read_timeout=5)
        response = await pool.post(server.url, b"{}", {})
        with pytest.raises(http1.Disconnected):
            await response.read()


async def test_a_silent_server_times_out_and_a_slow_one_does_not():
    def handler(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(4):  # 0.4 s in all, never silent for 0.3 s
                await asyncio.sleep(0.1)
                writer.write(b"1\r\nx\r\n")
                await writer.drain()
            await reader.read()  # then silent

        return handle

    async with serving(handler) as server:
        pool = Pool(connect_timeout=2, read_timeout=0.3)
        response = await pool.post(server.url, b"{}", {})
        got = []
        with pytest.raises(http1.ReadTimeout):
            async for chunk in response.iter_any():
                got.append(chunk)
        assert b"".join(got) == b"xxxx"


async def test_nobody_listening_is_a_failed_connect():
    async with serving(kept_alive()) as server:
        port = server.port
    with pytest.raises(http1.ConnectFailed):
        await Pool(connect_timeout=2, read_timeout=5).post(f"http://127.0.0.1:{port}/", b"", {})


async def test_a_cancelled_caller_closes_the_connection():
    hung_up = asyncio.Event()

    def handler(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            await writer.drain()
            assert await reader.read() == b""  # the client closed: an engine stops here
            hung_up.set()

        return handle

    async with serving(handler) as server:
        pool = Pool(connect_timeout=2, read_timeout=5)
        response = await pool.post(server.url, b"{}", {})
        reading = asyncio.create_task(response.read())
        await asyncio.sleep(0.05)
        reading.cancel()
        await asyncio.wait_for(hung_up.wait(), 5)
        assert response.closed


async def test_a_reader_that_falls_behind_pauses_the_engine_and_loses_nothing():
    body = bytes(range(256)) * (4 * http1.BUFFER_BYTES // 256)

    def handler(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
            writer.write(body)
            await writer.drain()
            await reader.read()

        return handle

    async with serving(handler) as server:
        pool = Pool(connect_timeout=2, read_timeout=5)
        response = await pool.post(server.url, b"{}", {})
        await asyncio.sleep(0.3)  # not reading
        assert response._conn.paused
        got = [chunk async for chunk in response.iter_any()]
        assert b"".join(got) == body
        response.release()
        pool.close()


async def test_a_header_value_cannot_add_lines_to_the_request():
    async with serving(kept_alive()) as server:
        with pytest.raises(ValueError, match="line break"):
            await Pool(2, 5).post(server.url, b"", {"Authorization": "Bearer x\r\nEvil: 1"})


async def test_an_answer_that_is_not_http_is_a_bad_response():
    def handler(server: Server) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.request(reader)
            writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
            await writer.drain()
            await reader.read()

        return handle

    async with serving(handler) as server:
        with pytest.raises(http1.BadResponse):
            await Pool(2, 5).post(server.url, b"{}", {})
