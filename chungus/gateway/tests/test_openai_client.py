"""The official openai client against CHUNGUS with a real llama-server behind it."""

from typing import Any

import openai
import pytest

from chungus.testing.waiting import wait_for

SAY: Any = [{"role": "user", "content": "Say hello"}]


def client(chungus, cls=openai.OpenAI):
    return cls(base_url=f"{chungus.url}/v1", api_key=chungus.keys["main"], max_retries=0)


def logged_after(chungus, since, **fields):
    """The first request-log row after id `since` with these fields, once it is flushed."""

    def matching():
        rows = chungus.request_log(since)
        return [row for row in rows if all(row[name] == value for name, value in fields.items())]

    return wait_for(matching, f"a request logged with {fields}")[0]


def test_sync_chat_completion_returns_real_text_and_usage(chungus):
    answer = client(chungus).chat.completions.create(model="gemma", messages=SAY, max_tokens=8)
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.role == "assistant"
    assert isinstance(answer.choices[0].message.content, str)
    assert answer.usage.completion_tokens > 0 and answer.usage.prompt_tokens > 0


async def test_async_chat_completion(chungus):
    async with client(chungus, openai.AsyncOpenAI) as aclient:
        answer = await aclient.chat.completions.create(model="gemma", messages=SAY, max_tokens=4)
    assert answer.choices[0].finish_reason in ("length", "stop")


def test_streaming_without_usage_hides_the_usage_chunk_but_logs_usage(chungus):
    since = chungus.last_logged()
    stream = client(chungus).chat.completions.create(
        model="gemma", messages=SAY, max_tokens=6, stream=True, user="stream-no-usage"
    )
    chunks = list(stream)
    assert chunks[0].object == "chat.completion.chunk"
    assert all(chunk.choices for chunk in chunks), (
        "a usage-only chunk leaked to a client that did not ask"
    )
    assert all(chunk.usage is None for chunk in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text
    row = logged_after(chungus, since, stream=1, status=200)
    assert row["completion_tokens"] > 0 and row["prompt_tokens"] > 0
    assert row["ttft_ms"] is not None and row["ttft_ms"] <= row["latency_ms"]


def test_streaming_with_usage_returns_the_usage_chunk(chungus):
    stream = client(chungus).chat.completions.create(
        model="gemma",
        messages=SAY,
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens > 0


async def test_async_streaming(chungus):
    async with client(chungus, openai.AsyncOpenAI) as aclient:
        stream = await aclient.chat.completions.create(
            model="gemma", messages=SAY, max_tokens=5, stream=True
        )
        pieces = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    assert any(pieces)


def test_legacy_completions_stream_and_not(chungus):
    c = client(chungus)
    answer = c.completions.create(model="gemma", prompt="The sky is", max_tokens=5)
    assert answer.object == "text_completion" and answer.usage.completion_tokens > 0
    chunks = list(
        c.completions.create(model="gemma", prompt="The sky is", max_tokens=5, stream=True)
    )
    assert "".join(chunk.choices[0].text for chunk in chunks if chunk.choices)


def test_models_are_listed_and_fetched(chungus):
    c = client(chungus)
    ids = {m.id for m in c.models.list()}
    assert "gemma" in ids
    assert c.models.retrieve("gemma").id == "gemma"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("no-such-model")


def test_the_original_api_v1_paths_work_too(chungus):
    c = openai.OpenAI(base_url=f"{chungus.url}/api/v1", api_key=chungus.keys["main"], max_retries=0)
    assert c.chat.completions.create(model="gemma", messages=SAY, max_tokens=2).choices


def test_extra_sampling_fields_pass_through_to_the_engine(chungus):
    # OpenAI has no `grammar`: only an engine that was sent it answers with exactly this.
    grammar = 'root ::= "passed through"'
    answer = client(chungus).chat.completions.create(
        model="gemma",
        messages=SAY,
        max_tokens=8,
        extra_body={"top_k": 1, "min_p": 0.05, "grammar": grammar},
    )
    assert answer.choices[0].message.content == "passed through"


def test_every_request_is_logged_with_key_model_backend_and_tokens(chungus):
    since = chungus.last_logged()
    client(chungus).chat.completions.create(
        model="gemma", messages=SAY, max_tokens=2, user="logged"
    )
    row = logged_after(chungus, since, status=200, stream=0)
    assert row["key_name"] == "main" and row["model"] == "gemma"
    assert row["backend"].startswith("http://127.0.0.1:")
    assert row["latency_ms"] > 0
    assert row["prompt"] == "", "prompts are not stored unless CHUNGUS_LOG_PROMPTS is on"
