"""The pooled upstream client against a real llama-server."""

from chungus.gateway.upstream import Upstream, transport_error
from chungus.lib import http1
from chungus.lib.openai_errors import ServiceUnavailable

CHAT = b'{"model": "gemma", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2'


async def test_requests_after_a_stream_survive_llama_servers_silent_hang_up(llama):
    # llama-server closes a kept-alive connection after each stream without
    # saying so; the next request on it must be resent on a fresh connection.
    upstream = Upstream(connect_timeout=5, read_timeout=60)
    await upstream.start()
    try:
        for _ in range(4):
            stream = await upstream.post(
                f"{llama.url}/v1/chat/completions", CHAT + b', "stream": true}', {}
            )
            assert stream.status == 200
            await stream.read()
            stream.release()
            answer = await upstream.post(f"{llama.url}/v1/chat/completions", CHAT + b"}", {})
            assert answer.status == 200
            await answer.read()
            answer.release()
    finally:
        await upstream.close()


async def test_a_backend_nobody_listens_on_is_unavailable():
    upstream = Upstream(connect_timeout=2, read_timeout=5)
    await upstream.start()
    try:
        try:
            await upstream.post("http://127.0.0.1:9/v1/chat/completions", b"{}", {})
        except ServiceUnavailable as error:
            assert error.headers["Retry-After"]
        else:
            raise AssertionError("expected ServiceUnavailable")
    finally:
        await upstream.close()


def test_a_backend_hanging_up_mid_answer_is_named_in_words_not_exception_names():
    error = transport_error(http1.Disconnected("the server closed the connection mid-answer"))
    assert error.status == 502 and error.code == "backend_disconnected"
    assert "closed the connection before finishing its answer" in str(error)
