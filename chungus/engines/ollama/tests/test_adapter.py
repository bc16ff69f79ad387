"""The Ollama adapter's requests, answers and errors, against recorded Ollama responses
(see testing/recordings/ollama)."""

import copy
from datetime import datetime
from typing import Any

import orjson
import pytest

from chungus.engines.error_mapping import normalize_engine_error
from chungus.engines.ollama.adapter import OllamaAdapter
from chungus.testing.fake_ollama import RECORDINGS
from chungus.testing.openai_schema import validate

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


# Errors


@pytest.mark.parametrize("status", [400, 404, 500])
def test_a_model_not_found_error_becomes_a_404(status):
    body = recorded("error_model_not_found.json")
    assert ADAPTER.error(status, body) == (404, body)
    assert normalize_engine_error(*ADAPTER.error(status, body))[0] == 404


def test_other_errors_keep_their_status_and_body():
    assert ADAPTER.error(500, b'{"error": "out of memory"}') == (500, b'{"error": "out of memory"}')
    assert ADAPTER.error(502, b"<html>bad gateway</html>") == (502, b"<html>bad gateway</html>")


def test_settings_that_change_the_model_for_everyone_are_dropped_on_request():
    body: dict[str, Any] = {
        "model": "llama3.2",
        "messages": SAY,
        "keep_alive": -1,
        "num_ctx": 131072,
        "temperature": 0.3,
        "top_k": 20,
        "options": {"num_gpu": 0, "main_gpu": 1, "num_thread": 64, "use_mmap": False, "seed": 7},
    }
    private = ADAPTER.without_shared_settings(body)
    _, out = sent(private)
    assert "keep_alive" not in out
    assert out["options"] == {"temperature": 0.3, "top_k": 20, "seed": 7}
    assert body["keep_alive"] == -1 and body["options"]["num_gpu"] == 0, "the body is not mutated"


def test_a_request_without_shared_settings_is_left_as_it_is():
    body = {"model": "llama3.2", "messages": SAY, "options": {"top_k": 5}}
    assert ADAPTER.without_shared_settings(body) is body
