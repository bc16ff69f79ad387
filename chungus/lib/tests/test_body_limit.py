"""Bodies over the limit get a 413 the client can read, before the app reads them, and
refusing one costs a bounded amount of reading (a real uvicorn, a real HTTP client)."""

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from chungus.fleet.launchers.local import free_port
from chungus.lib.body_limit import BodyLimit, path_limits
from chungus.testing.uvicorn_thread import in_a_thread

LIMIT = 64 * 1024
MB = 1024 * 1024


class BodyReadingApp:
    """Reads the whole body as Django's ASGI handler does, and says how much it got (of the
    last request)."""

    def __init__(self) -> None:
        self.read = 0
        self.calls = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        self.calls, self.read = self.calls + 1, 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # Django: RequestAborted, nothing is answered
            self.read += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(self.read).encode()})


@contextmanager
def serving(app, **options) -> Iterator[str]:
    port = free_port()
    limits = path_limits(LIMIT, {"/upload": 4 * LIMIT}, unchecked=("/v1",))
    config = uvicorn.Config(
        BodyLimit(app, limits, **options), host="127.0.0.1", port=port, log_level="warning",
        http="httptools", loop="uvloop", lifespan="off",
    )  # fmt: skip
    with in_a_thread(config):
        yield f"http://127.0.0.1:{port}"


def chunks(total: int, sent: list[int], size: int = MB) -> Iterator[bytes]:
    """A chunked body (no Content-Length) of `total` bytes, counting what was sent."""
    while sent[0] < total:
        sent[0] += size
        yield b"x" * size


@pytest.fixture
def app():
    return BodyReadingApp()


def test_a_body_declared_over_the_limit_is_answered_413_and_never_reaches_the_app(app):
    with serving(app) as url:
        answer = httpx.post(f"{url}/accounts/login/", content=b"x" * (64 * MB), timeout=60)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"
    assert str(LIMIT) in answer.json()["error"]["message"]
    assert app.calls == 0


def test_a_streamed_body_is_cut_off_where_it_passes_the_limit(app):
    sent = [0]
    with serving(app) as url:
        answer = httpx.post(f"{url}/page", content=chunks(8 * MB, sent, 16 * 1024), timeout=60)
    assert answer.status_code == 413 and sent[0] == 8 * MB  # drained: the client read it
    assert app.calls == 1 and app.read <= LIMIT


def test_bodies_within_their_limit_and_unchecked_paths_pass_untouched(app):
    with serving(app) as url:
        small = httpx.post(f"{url}/page", content=b"x" * LIMIT)
        upload = httpx.post(f"{url}/upload", content=b"x" * (3 * LIMIT))
        data_plane = httpx.post(f"{url}/v1/chat/completions", content=b"x" * (2 * MB))
    assert (small.status_code, small.text) == (200, str(LIMIT))
    assert (upload.status_code, upload.text) == (200, str(3 * LIMIT))
    assert (data_plane.status_code, data_plane.text) == (200, str(2 * MB))


def test_a_body_past_the_drain_bound_is_not_read_to_its_end(app):
    sent = [0]
    with serving(app, drain_bytes=4 * MB, drain_seconds=10) as url:
        try:
            answer = httpx.post(f"{url}/page", content=chunks(2048 * MB, sent), timeout=60)
            assert answer.status_code == 413 and answer.headers["connection"] == "close"
        except httpx.TransportError:
            pass  # closed while the client was still sending: the price of 2 GB
    assert sent[0] < 512 * MB, "the server read on after its drain bound"


async def answers_401_unread(scope, receive, send):
    """Answers before reading the body, as the gateway does for a request with no key."""
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b"no key"})


def test_an_answer_sent_before_an_endless_body_ended_closes_the_connection():
    sent = [0]
    with serving(answers_401_unread) as url:
        declared = httpx.post(f"{url}/v1/chat/completions", content=b"x" * (8 * MB))
        try:
            chunked = httpx.post(f"{url}/v1/chat/completions", content=chunks(2048 * MB, sent))
            assert chunked.status_code == 401 and chunked.headers["connection"] == "close"
        except httpx.TransportError:
            pass  # closed while the client was still sending
    assert declared.status_code == 401 and "connection" not in declared.headers  # bounded: kept
    assert sent[0] < 512 * MB, "the server read an unread body on and on"
