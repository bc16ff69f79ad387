"""CHUNGUS's answers validate against OpenAI's official schemas (real llama-server behind)."""

import httpx
import orjson
import pytest

from chungus.lib.sse import EventSplitter, event_json
from chungus.testing.openai_schema import validate

SAY = [{"role": "user", "content": "Say hello"}]


def post(chungus, path, body, key="main"):
    headers = {"Authorization": f"Bearer {chungus.keys[key]}"} if key else {}
    return httpx.post(f"{chungus.url}/v1/{path}", json=body, headers=headers, timeout=60)


def stream_chunks(response_bytes):
    splitter = EventSplitter()
    events = [*splitter.feed(response_bytes), splitter.rest()]
    return [chunk for event in events if event and (chunk := event_json(event)) is not None]


def test_chat_completion_matches_the_schema(chungus):
    response = post(
        chungus, "chat/completions", {"model": "gemma", "messages": SAY, "max_tokens": 4}
    )
    assert response.status_code == 200
    validate("CreateChatCompletionResponse", response.json())


@pytest.mark.parametrize("include_usage", [False, True])
def test_chat_stream_chunks_match_the_schema(chungus, include_usage):
    body = {"model": "gemma", "messages": SAY, "max_tokens": 4, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    response = post(chungus, "chat/completions", body)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content.rstrip().endswith(b"data: [DONE]")
    chunks = stream_chunks(response.content)
    assert chunks
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)


def test_completion_matches_the_schema(chungus):
    response = post(chungus, "completions", {"model": "gemma", "prompt": "Once", "max_tokens": 4})
    validate("CreateCompletionResponse", response.json())


def test_model_list_matches_the_schema(chungus):
    response = httpx.get(
        f"{chungus.url}/v1/models", headers={"Authorization": f"Bearer {chungus.keys['main']}"}
    )
    validate("ListModelsResponse", response.json())
    validate("Model", response.json()["data"][0])


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        orjson.dumps({"model": "no-such-model", "messages": SAY}),
        orjson.dumps({"model": "gemma", "messages": "hi"}),
    ],
)
def test_errors_match_the_schema(chungus, body):
    response = httpx.post(
        f"{chungus.url}/v1/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {chungus.keys['main']}"},
    )
    assert response.status_code in (400, 404)
    validate("ErrorResponse", response.json())
