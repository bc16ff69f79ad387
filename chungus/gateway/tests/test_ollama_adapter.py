"""The Ollama adapter, against recorded Ollama responses (see testing/recordings/ollama)."""

import copy
import subprocess
import sys
from datetime import datetime

import httpx
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from chungus.fleet.launchers.local import free_port
from chungus.gateway.engine_errors import normalize_engine_error
from chungus.gateway.engines.ollama import OllamaAdapter
from chungus.testing.fake_ollama import RECORDINGS, make_app
from chungus.testing.openai_schema import validate
from chungus.testing.processes import stop_process, wait_http

ADAPTER = OllamaAdapter()
CHAT = "chat/completions"
SAY = [{"role": "user", "content": "why is the sky blue?"}]


def recorded(name):
    return (RECORDINGS / name).read_bytes()


def sent(body, endpoint=CHAT, upstream_model="", stream=False):
    request = ADAPTER.request(endpoint, body, orjson.dumps(body), upstream_model, stream)
    return request.path, orjson.loads(request.body)


def options_for(**fields):
    return sent({"model": "llama3.2", "messages": SAY, **fields})[1].get("options")


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


# Requests


@pytest.mark.parametrize("stream", [False, True])
def test_chat_goes_to_api_chat_with_the_stream_flag_always_set(stream):
    path, body = sent({"model": "llama3.2", "messages": SAY}, stream=stream)
    assert path == "/api/chat"
    assert body["stream"] is stream
    assert body["messages"] == SAY


def test_it_sends_the_upstream_model_name_when_there_is_one():
    assert sent({"model": "mine", "messages": SAY}, upstream_model="llama3.2:3b")[1]["model"] == (
        "llama3.2:3b"
    )
    assert sent({"model": "mine", "messages": SAY})[1]["model"] == "mine"


def test_it_maps_max_tokens_to_num_predict():
    assert options_for(max_tokens=7) == {"num_predict": 7}


def test_max_completion_tokens_wins_over_max_tokens():
    assert options_for(max_tokens=7, max_completion_tokens=9) == {"num_predict": 9}


def test_it_maps_sampling_fields_into_options():
    fields = dict(temperature=0.2, top_p=0.9, seed=42, presence_penalty=1.5, frequency_penalty=1)
    assert options_for(**fields) == fields


def test_a_single_stop_string_becomes_a_list():
    assert options_for(stop="\n") == {"stop": ["\n"]}
    assert options_for(stop=["a", "b"]) == {"stop": ["a", "b"]}


def test_it_passes_ollama_native_extras_through():
    extras = dict(top_k=20, min_p=0.05, repeat_penalty=1.2, num_ctx=8192)
    _, body = sent({"model": "llama3.2", "messages": SAY, "keep_alive": "10m", **extras})
    assert body["options"] == extras
    assert body["keep_alive"] == "10m"


def test_the_clients_own_options_win():
    assert options_for(temperature=1, options={"temperature": 0, "num_gpu": 1}) == {
        "temperature": 0,
        "num_gpu": 1,
    }


def test_it_leaves_out_options_when_none_are_set():
    assert options_for() is None


def test_json_mode_becomes_format_json_and_a_json_schema_becomes_the_format():
    _, body = sent({"model": "m", "messages": SAY, "response_format": {"type": "json_object"}})
    assert body["format"] == "json"
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    json_schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert sent({"model": "m", "messages": SAY, "response_format": json_schema})[1]["format"] == (
        schema
    )
    assert "format" not in sent({"model": "m", "messages": SAY})[1]


def test_text_parts_are_joined_and_data_url_images_become_base64():
    parts = [
        {"type": "text", "text": "what is in"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "text", "text": "this image?"},
    ]
    _, body = sent({"model": "llava", "messages": [{"role": "user", "content": parts}]})
    assert body["messages"] == [
        {"role": "user", "content": "what is in\nthis image?", "images": ["iVBORw0KGgo="]}
    ]


def test_tools_pass_through_and_tool_call_arguments_become_objects():
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    function = {"name": "get_weather", "arguments": '{"location": "Paris"}'}
    call = {"id": "call_1", "type": "function", "function": function}
    messages = [
        *SAY,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "22 C"},
    ]
    _, body = sent({"model": "llama3.2", "messages": messages, "tools": tools})
    assert body["tools"] == tools
    assert body["messages"][1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"location": "Paris"}}}],
    }
    assert body["messages"][2] == {"role": "tool", "content": "22 C", "tool_name": "get_weather"}


def test_tool_choice_none_sends_no_tools():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    _, body = sent({"model": "m", "messages": SAY, "tools": tools, "tool_choice": "none"})
    assert "tools" not in body


def test_developer_messages_become_system_messages():
    _, body = sent({"model": "m", "messages": [{"role": "developer", "content": "Be brief."}]})
    assert body["messages"] == [{"role": "system", "content": "Be brief."}]


def test_it_does_not_change_the_clients_body():
    body = {"model": "m", "messages": [*SAY], "stop": "x", "options": {"top_k": 1}}
    before = copy.deepcopy(body)
    sent(body, stream=True)
    assert body == before


def test_completions_go_to_api_generate_as_raw_text():
    path, body = sent({"model": "m", "prompt": ["Once upon"], "max_tokens": 5}, "completions")
    assert path == "/api/generate"
    assert body == {
        "model": "m",
        "stream": False,
        "prompt": "Once upon",
        "raw": True,
        "options": {"num_predict": 5},
    }


def test_a_completion_with_a_suffix_keeps_the_template_for_fill_in_the_middle():
    _, body = sent({"model": "m", "prompt": "def f(", "suffix": "return x"}, "completions")
    assert body["suffix"] == "return x"
    assert body["raw"] is False


# Answers


def test_a_recorded_chat_answer_becomes_a_chat_completion():
    answer = ADAPTER.response(CHAT, orjson.loads(recorded("chat.json")), "")
    validate("CreateChatCompletionResponse", answer)
    assert answer["id"].startswith("chatcmpl-")
    assert answer["object"] == "chat.completion"
    assert answer["created"] == int(datetime.fromisoformat("2023-12-12T14:13:43Z").timestamp())
    assert answer["model"] == "llama3.2"
    assert answer["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello! How are you today?",
                "refusal": None,
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert answer["usage"] == {"prompt_tokens": 26, "completion_tokens": 298, "total_tokens": 324}


def test_a_recorded_tool_call_becomes_an_openai_tool_call():
    answer = ADAPTER.response(CHAT, orjson.loads(recorded("chat_tools.json")), "")
    validate("CreateChatCompletionResponse", answer)
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "get_current_weather"
    assert orjson.loads(call["function"]["arguments"]) == {
        "format": "celsius",
        "location": "Paris, FR",
    }


def test_an_answer_cut_at_the_token_limit_finishes_with_length():
    data = {**orjson.loads(recorded("chat.json")), "done_reason": "length"}
    assert ADAPTER.response(CHAT, data, "")["choices"][0]["finish_reason"] == "length"


def test_a_recorded_generate_answer_becomes_a_text_completion():
    answer = ADAPTER.response("completions", orjson.loads(recorded("generate.json")), "")
    validate("CreateCompletionResponse", answer)
    assert answer["id"].startswith("cmpl-") and answer["object"] == "text_completion"
    assert answer["choices"] == [
        {
            "text": "The sky is blue because it is the color of the sky.",
            "index": 0,
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert answer["usage"] == {"prompt_tokens": 26, "completion_tokens": 290, "total_tokens": 316}


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


# Errors


@pytest.mark.parametrize("status", [400, 404, 500])
def test_a_model_not_found_error_becomes_a_404(status):
    body = recorded("error_model_not_found.json")
    assert ADAPTER.error(status, body) == (404, body)
    assert normalize_engine_error(*ADAPTER.error(status, body))[0] == 404


def test_other_errors_keep_their_status_and_body():
    assert ADAPTER.error(500, b'{"error": "out of memory"}') == (500, b'{"error": "out of memory"}')
    assert ADAPTER.error(502, b"<html>bad gateway</html>") == (502, b"<html>bad gateway</html>")


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
