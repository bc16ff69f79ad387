"""Speaking to OpenAI-compatible engines: requests sent as they came, answers completed."""

import orjson

from chungus.engines.openai.adapter import OpenAIAdapter, SseStream
from chungus.engines.registry import adapters

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "min_p": 0.1, "mirostat": 2}
RAW = orjson.dumps(CHAT)


def test_it_keeps_unknown_fields_and_maps_the_model():
    sent = OpenAIAdapter().request("chat/completions", CHAT, RAW, "engine-id", stream=False)
    body = orjson.loads(sent.body)
    assert sent.path == "/chat/completions"
    assert body["model"] == "engine-id" and body["min_p"] == 0.1 and body["mirostat"] == 2
    assert CHAT["model"] == "m", "the client's body is not changed"


def test_it_asks_the_engine_for_usage_on_streams():
    body = orjson.loads(
        OpenAIAdapter().request("chat/completions", CHAT, RAW, "", stream=True).body
    )
    assert body["stream_options"] == {"include_usage": True} and body["model"] == "m"


def test_a_body_that_needs_no_change_is_sent_as_the_client_sent_it():
    adapter = OpenAIAdapter()
    assert adapter.request("completions", CHAT, RAW, "", stream=False).body == RAW
    assert adapter.request("completions", CHAT, RAW, "m", stream=False).body == RAW


def test_answers_are_completed_to_openai_shape():
    answer = OpenAIAdapter().response(
        "chat/completions", {"choices": [{"message": {"content": "x"}}]}, "m"
    )
    assert answer["choices"][0]["logprobs"] is None


def test_streams_are_split_into_events():
    stream = OpenAIAdapter().stream("chat/completions", "m")
    assert isinstance(stream, SseStream)
    assert stream.feed(b"data: 1\n\ndata: ") == [b"data: 1\n\n"]
    assert stream.end() == [b"data: \n\n"]


def test_every_engine_kind_has_an_adapter():
    assert {"openai", "llamacpp", "vllm", "koboldcpp", "ollama"} <= set(adapters())
