"""A stream whose client is gone before its first byte still releases its slot, closes the
engine's response and logs the request (real llama-server, a Gateway in this process)."""

import asyncio

import orjson
import pytest
from starlette.requests import Request

from chungus.accounts.keyinfo import KeyInfo
from chungus.core.routes import BackendInfo, ModelInfo
from chungus.gateway.responses import EventStream
from chungus.testing.inprocess import RecordingUpstream, in_process_gateway

SECRET = "sk-test-responses"
LONG = {"model": "gemma", "messages": [{"role": "user", "content": "Count to a thousand"}],
        "max_tokens": 1500, "stream": True}  # fmt: skip


class LeavingClient:
    """A fake ASGI client (a client that leaves on cue cannot be had from a real one): it
    sends the body, then says it disconnected once `leave` is set."""

    def __init__(self) -> None:
        self.leave = asyncio.Event()
        self.body_sent = False

    async def receive(self):
        if not self.body_sent:
            self.body_sent = True
            return {"type": "http.request", "body": orjson.dumps(LONG), "more_body": False}
        await self.leave.wait()
        return {"type": "http.disconnect"}


def scope():
    headers = [(b"authorization", f"Bearer {SECRET}".encode()),
               (b"content-type", b"application/json")]  # fmt: skip
    return {"type": "http", "method": "POST", "path": "/v1/chat/completions",
            "headers": headers, "query_string": b""}  # fmt: skip


async def never_sends(message):
    await asyncio.Event().wait()  # the connection is gone: nothing gets through


async def send_fails(message):
    raise OSError("connection reset by peer")


@pytest.mark.parametrize("send", [never_sends, send_fails], ids=["gone", "send-fails"])
async def test_a_stream_that_never_sent_a_byte_releases_its_slot_engine_and_log_row(llama, send):
    backend = BackendInfo(1, f"{llama.url}/v1", engine="llamacpp")
    gateway = in_process_gateway([ModelInfo("gemma", (backend,))], {SECRET: KeyInfo(1, "main")})
    upstream = gateway.upstream
    assert isinstance(upstream, RecordingUpstream)
    await upstream.start()
    try:
        client = LeavingClient()
        response = await gateway.complete(
            Request(scope(), client.receive), "chat/completions", chat=True
        )
        assert isinstance(response, EventStream)
        assert gateway.admission.in_flight[backend.id] == 1
        client.leave.set()
        try:
            await response(scope(), client.receive, send)
        except OSError:
            assert send is send_fails
        assert gateway.admission.in_flight[backend.id] == 0
        assert [r.closed for r in upstream.responses] == [True]
        logged = [(e.status, e.error_type, e.model) for e in gateway.logs.pending]
        assert logged == [(499, "client_disconnected", "gemma")]
    finally:
        await upstream.close()
