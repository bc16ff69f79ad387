"""The official openai client through CHUNGUS to an Ollama backend.

No Ollama server can be installed here: the backend is chungus.testing.fake_ollama,
which replays responses recorded from Ollama's API documentation.
"""

import subprocess
import sys
from typing import Any

import httpx
import openai
import pytest

from chungus.fleet.launchers.local import free_port
from chungus.testing.openai_schema import validate
from chungus.testing.processes import chungus_instance, stop_process, wait_http

SAY: Any = [{"role": "user", "content": "Why is the sky blue?"}]


@pytest.fixture(scope="module")
def ollama_gateway(tmp_path_factory):
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "chungus.testing.fake_ollama", "--port", str(port)]
    )
    wait_http(f"http://127.0.0.1:{port}/", 30, fake)
    instance = chungus_instance(tmp_path_factory.mktemp("ollama"))
    root = f"http://127.0.0.1:{port}"
    instance.cli(
        "models",
        "add",
        "llama",
        "--url",
        root,
        "--engine",
        "ollama",
        "--upstream-model",
        "llama3.2",
    )
    instance.cli(
        "models", "add", "gone", "--url", root, "--engine", "ollama", "--upstream-model", "missing"
    )
    instance.create_key("k")
    instance.start("--no-default-model")
    client = openai.OpenAI(base_url=f"{instance.url}/v1", api_key=instance.keys["k"], max_retries=0)
    yield client, root
    instance.stop()
    stop_process(fake)


def test_a_chat_answer_is_an_openai_chat_completion(ollama_gateway):
    client, root = ollama_gateway
    answer = client.chat.completions.create(
        model="llama", messages=SAY, max_tokens=20, temperature=0.2
    )
    validate("CreateChatCompletionResponse", answer.model_dump(exclude_unset=True))
    assert answer.model == "llama" and answer.choices[0].message.content
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0
    sent = httpx.get(f"{root}/_requests").json()[-1]
    assert sent["model"] == "llama3.2" and sent["stream"] is False
    assert sent["options"]["num_predict"] == 20 and sent["options"]["temperature"] == 0.2


def test_a_stream_arrives_as_openai_chunks_without_an_unasked_usage_chunk(ollama_gateway):
    client, _ = ollama_gateway
    chunks = list(client.chat.completions.create(model="llama", messages=SAY, stream=True))
    assert chunks and all(chunk.choices for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_stream_with_usage_ends_with_the_usage_chunk(ollama_gateway):
    client, _ = ollama_gateway
    chunks = list(
        client.chat.completions.create(
            model="llama", messages=SAY, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


def test_legacy_completions_work(ollama_gateway):
    client, _ = ollama_gateway
    answer = client.completions.create(model="llama", prompt="Why is the sky blue?")
    assert answer.object == "text_completion" and answer.choices[0].text
    chunks = list(client.completions.create(model="llama", prompt="Why", stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices)


def test_an_engine_that_lacks_the_model_is_a_404_in_openai_form(ollama_gateway):
    client, _ = ollama_gateway
    with pytest.raises(openai.NotFoundError) as error:
        client.chat.completions.create(model="gone", messages=SAY)
    assert "not found" in str(error.value)
