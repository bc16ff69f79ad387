"""A request head must arrive in time and be of bounded size; once it has arrived, the
timer no longer applies (a real uvicorn with the protocol, raw sockets as the clients)."""

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from chungus.fleet.launchers.local import free_port
from chungus.lib.request_heads import bounded_head_protocol
from chungus.testing.uvicorn_thread import in_a_thread

TIMEOUT = 0.5
MAX_HEAD = 4096
HEAD = b"GET /hello HTTP/1.1\r\nHost: x\r\n"  # one blank line short of whole


async def hello(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    body = b"hello " + body
    length = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": length})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serving() -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(
        hello, host="127.0.0.1", port=port, log_level="error", loop="uvloop",
        lifespan="off", timeout_keep_alive=30, http=bounded_head_protocol(TIMEOUT, MAX_HEAD),
    )  # fmt: skip
    with in_a_thread(config):
        yield port


def connect(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port))
    connection.settimeout(TIMEOUT * 8)
    return connection


def closed_after(connection: socket.socket) -> float:
    """Seconds until the server closes `connection` (reading and dropping what it sends)."""
    started = time.monotonic()
    while connection.recv(65536):
        pass
    return time.monotonic() - started


def answer(connection: socket.socket) -> bytes:
    """One whole response to a request for /hello."""
    got = b""
    while b"hello" not in got:
        chunk = connection.recv(65536)
        assert chunk, f"closed before the answer: {got!r}"
        got += chunk
    return got


def test_a_connection_that_sends_nothing_is_closed_after_the_timeout():
    with serving() as port, connect(port) as idle:
        assert TIMEOUT * 0.8 < closed_after(idle) < TIMEOUT * 4


def test_a_head_sent_a_byte_at_a_time_is_closed_after_the_timeout():
    with serving() as port, connect(port) as slow:
        started = time.monotonic()
        try:
            for byte in HEAD * 100:
                slow.sendall(bytes([byte]))
                time.sleep(0.05)
        except OSError:  # closed under it: what should happen
            pass
        assert time.monotonic() - started < TIMEOUT * 4
        assert slow.recv(65536) == b""


def test_the_timer_starts_again_after_each_response():
    with serving() as port, connect(port) as kept:
        time.sleep(TIMEOUT * 0.6)
        kept.sendall(HEAD + b"\r\n")
        assert b"200 OK" in answer(kept)
        time.sleep(TIMEOUT * 0.6)  # the first timer would have fired by now
        kept.sendall(HEAD + b"\r\n")
        assert b"200 OK" in answer(kept)
        kept.sendall(HEAD)  # part of a third head, then nothing
        assert closed_after(kept) < TIMEOUT * 4


def test_a_whole_head_is_not_timed_while_its_body_is_slow():
    with serving() as port, connect(port) as uploading:
        uploading.sendall(HEAD + b"Content-Length: 4\r\n\r\nab")
        time.sleep(TIMEOUT * 2)
        uploading.sendall(b"cd")
        assert answer(uploading).endswith(b"hello abcd")


def test_a_head_over_the_bound_is_answered_431_and_closed():
    big = b"X-Big: " + b"a" * MAX_HEAD + b"\r\n"
    with serving() as port, connect(port) as client:
        client.sendall(HEAD + big + b"\r\n")
        got = b""
        while chunk := client.recv(65536):
            got += chunk
        assert got.startswith(b"HTTP/1.1 431 ")
        assert httpx.get(f"http://127.0.0.1:{port}/hello").status_code == 200


def test_a_header_line_that_never_ends_is_refused_before_much_is_read():
    sent = 0
    with serving() as port, connect(port) as client:
        client.sendall(HEAD + b"X-Endless: ")
        try:
            while sent < 64 * 1024 * 1024:
                client.sendall(b"a" * 1024)
                sent += 1024
        except OSError:  # reset once the server closed: what should happen
            pass
        assert sent < 8 * 1024 * 1024, "the server read an endless header on and on"


def test_a_large_body_right_behind_a_small_head_is_not_refused():
    body = b"b" * (MAX_HEAD * 16)
    with serving() as port:
        response = httpx.post(f"http://127.0.0.1:{port}/hello", content=body)
    assert response.status_code == 200 and response.content == b"hello " + body
