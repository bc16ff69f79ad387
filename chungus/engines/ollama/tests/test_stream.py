"""Ollama's streams translated to OpenAI's events, from recordings and from the fake Ollama
that replays them (see testing/recordings/ollama)."""

import subprocess
import sys

import httpx
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from chungus.engines.ollama.adapter import OllamaAdapter
from chungus.fleet.launchers.local import free_port
from chungus.testing.fake_ollama import RECORDINGS, make_app
from chungus.testing.openai_schema import validate
from chungus.testing.processes import stop_process, wait_http

ADAPTER = OllamaAdapter()
CHAT = "chat/completions"
SAY = [{"role": "user", "content": "why is the sky blue?"}]


def recorded(name):
    return (RECORDINGS / name).read_bytes()


def translate(ndjson, endpoint=CHAT, step=None):
    """Feed a stream to a fresh translator, `step` bytes at a time (all at once if None)."""
    translator = ADAPTER.stream(endpoint, "my-llama")
    step = step or len(ndjson)
    events = []
    for start in range(0, len(ndjson), step):
        events += translator.feed(ndjson[start : start + step])
    return events + translator.end()


def chunks_of(events):
    assert all(e.startswith(b"data: ") and e.endswith(b"\n\n") for e in events)
    return [orjson.loads(e[6:]) for e in events if e != b"data: [DONE]\n\n"]


# Streams


def test_a_recorded_chat_stream_becomes_openai_chunks_then_usage_then_done():
    events = translate(recorded("chat_stream.ndjson"))
    assert events[-1] == b"data: [DONE]\n\n"
    chunks = chunks_of(events)
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    assert {(c["id"], c["created"], c["object"], c["model"]) for c in chunks} == {
        (chunks[0]["id"], chunks[0]["created"], "chat.completion.chunk", "my-llama")
    }
    assert [c["choices"][0]["delta"] for c in chunks[:-1]] == [
        {"role": "assistant", "content": ""},
        {"content": "The"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, None, "stop"]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 26,
        "completion_tokens": 282,
        "total_tokens": 308,
    }


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64])
@pytest.mark.parametrize("name", ["chat_stream.ndjson", "generate_stream.ndjson"])
def test_lines_split_at_any_byte_give_the_same_events(name, step):
    endpoint = CHAT if name.startswith("chat") else "completions"
    whole = translate(recorded(name), endpoint)
    pieces = translate(recorded(name), endpoint, step=step)
    assert pieces[-1] == b"data: [DONE]\n\n"

    def unstamped(events):  # each translator draws its own id
        return [{**c, "id": None, "created": None} for c in chunks_of(events)]

    assert unstamped(pieces) == unstamped(whole)


def test_a_recorded_generate_stream_becomes_text_completion_chunks():
    chunks = chunks_of(translate(recorded("generate_stream.ndjson"), "completions"))
    assert {c["object"] for c in chunks} == {"text_completion"}
    texts = [c["choices"][0]["text"] for c in chunks if c["choices"]]
    assert "".join(texts) == "That's a fantastic question!"  # the last line carries "!" too
    *content, finish, usage = chunks
    assert finish["choices"] == [
        {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
    ]
    assert usage["choices"] == [] and set(usage["usage"]) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
    }
    validate("CreateCompletionResponse", finish)
    validate("CreateCompletionResponse", usage)
    for chunk in content:
        # OpenAI streams finish_reason null until the end; its spec only lists the final values
        assert chunk["choices"][0]["finish_reason"] is None
        final = {**chunk["choices"][0], "finish_reason": "stop"}
        validate("CreateCompletionResponse", {**chunk, "choices": [final]})


def test_an_error_line_becomes_an_openai_error_event_and_ends_the_stream():
    events = translate(recorded("generate_stream_error.ndjson"), "completions")
    assert b"[DONE]" not in b"".join(events)
    error = orjson.loads(events[-1][6:])
    validate("ErrorResponse", error)
    assert error == {
        "error": {
            "message": "The model backend failed: an error was encountered while running the model",
            "type": "api_error",
            "param": None,
            "code": "backend_error",
        }
    }
    assert len(events) == 5  # four pieces of text, then the error


def test_end_translates_a_last_line_without_its_newline():
    translator = ADAPTER.stream(CHAT, "m")
    fed = translator.feed(recorded("chat_stream.ndjson").rstrip(b"\n"))
    assert b"[DONE]" not in b"".join(fed)
    assert translator.end()[-1] == b"data: [DONE]\n\n"


def test_nothing_follows_the_final_line():
    stream = recorded("chat_stream.ndjson")
    events = translate(stream + stream)
    assert len(events) == len(translate(stream))
    assert events.count(b"data: [DONE]\n\n") == 1 and events[-1] == b"data: [DONE]\n\n"


def test_streamed_tool_calls_become_indexed_tool_call_deltas():
    line = orjson.dumps(orjson.loads(recorded("chat_tools.json"))) + b"\n"
    chunks = chunks_of(translate(line))
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    (call,) = chunks[1]["choices"][0]["delta"]["tool_calls"]
    assert call["index"] == 0 and call["function"]["name"] == "get_current_weather"
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


# The fake Ollama replaying the recordings


async def test_the_fake_answers_on_ollamas_plain_paths_and_the_health_path():
    async with TestClient(TestServer(make_app())) as client:
        assert await (await client.get("/")).text() == "Ollama is running"
        assert (await client.get(ADAPTER.health_path)).status == 200
        for path, name in [("/api/tags", "tags.json"), ("/api/ps", "ps.json")]:
            assert await (await client.get(path)).json() == orjson.loads(recorded(name))


@pytest.mark.parametrize("endpoint", [CHAT, "completions"])
async def test_a_stream_from_the_fake_translates_to_valid_chunks(endpoint):
    body = {"model": "my-llama", "max_tokens": 9, "stream": True}
    body.update({"messages": SAY} if endpoint == CHAT else {"prompt": "Why?"})
    request = ADAPTER.request(endpoint, body, b"", "llama3.2", True)
    async with TestClient(TestServer(make_app())) as client:
        response = await client.post(request.path, data=request.body)
        assert response.headers["Content-Type"] == "application/x-ndjson"
        translator = ADAPTER.stream(endpoint, "my-llama")
        events = [e async for chunk in response.content.iter_any() for e in translator.feed(chunk)]
        events += translator.end()
        seen = await (await client.get("/_requests")).json()
    assert seen[-1]["model"] == "llama3.2" and seen[-1]["options"] == {"num_predict": 9}
    assert events[-1] == b"data: [DONE]\n\n"
    chunks = chunks_of(events)
    if endpoint == CHAT:
        for chunk in chunks:
            validate("CreateChatCompletionStreamResponse", chunk)
    else:  # the finish and usage chunks; see the generate stream test for the others
        for chunk in chunks[-2:]:
            validate("CreateCompletionResponse", chunk)


async def test_the_fake_streams_unless_told_not_to_and_echoes_the_model():
    async with TestClient(TestServer(make_app())) as client:
        streamed = await client.post("/api/chat", json={"model": "x", "messages": SAY})
        assert streamed.headers["Content-Type"] == "application/x-ndjson"
        whole = await client.post(
            "/api/chat", json={"model": "x", "messages": SAY, "stream": False}
        )
        answer = ADAPTER.response(CHAT, await whole.json(), "")
    assert answer["model"] == "x"
    validate("CreateChatCompletionResponse", answer)


async def test_the_fake_answers_404_for_the_missing_model():
    async with TestClient(TestServer(make_app())) as client:
        response = await client.post("/api/generate", json={"model": "missing", "prompt": "hi"})
        status, body = ADAPTER.error(response.status, await response.read())
    assert status == 404
    assert orjson.loads(body) == {"error": "model 'missing' not found"}


def test_the_fake_runs_as_a_module():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chungus.testing.fake_ollama", "--port", str(port)]
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/", 30, process)
        reply = httpx.post(
            f"http://127.0.0.1:{port}/api/generate",
            json={"model": "m", "prompt": "Why?", "stream": False},
        )
        assert reply.json()["response"] == orjson.loads(recorded("generate.json"))["response"]
    finally:
        stop_process(process)
