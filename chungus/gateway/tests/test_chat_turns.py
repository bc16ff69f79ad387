"""Chat answers from the packaged base model never carry a turn format's control tokens,
and a model without a chat format gets a clear 400 instead of foreign markers."""

import time

import openai
import pytest

from chungus.engines.llamacpp.chat_format import CONTROL_MARKERS
from chungus.testing.processes import chungus_instance

PROMPTS = [
    "Say hello",
    "Hi",
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "List three colours.",
    "Translate 'good morning' into French.",
    "What is 2 + 2?",
    "Tell me a joke.",
    "Who wrote Hamlet?",
    "Describe a cat in one sentence.",
    "What day comes after Monday?",
    "Give me a word that rhymes with 'light'.",
    "Explain photosynthesis briefly.",
    "Name a planet.",
    "Continue: once upon a time",
    "How are you today?",
    "What is Python?",
    "Summarise: the quick brown fox jumps over the lazy dog.",
    "Count from one to five.",
    "Say goodbye",
]


@pytest.fixture(scope="module")
def served(tmp_path_factory, llama):
    """CHUNGUS in front of the packaged model, with the default upstream timeouts (the shared
    `chungus` fixture's 3 s read timeout is for failure tests, too short for 20 answers)."""
    instance = chungus_instance(tmp_path_factory.mktemp("turns"))
    instance.cli("models", "add", "gemma", "--url", f"{llama.url}/v1", "--engine", "llamacpp")
    instance.create_key("main")
    instance.start("--no-default-model")
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def client(served):
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.keys["main"], max_retries=0)


def assert_clean(text):
    found = [marker for marker in CONTROL_MARKERS if marker in text]
    assert not found, f"control tokens {found} in {text!r}"


@pytest.mark.parametrize("index", range(len(PROMPTS)))
def test_no_answer_carries_a_control_token(client, index):
    messages = [{"role": "user", "content": PROMPTS[index]}]
    if index % 2:  # half of them streamed
        stream = client.chat.completions.create(
            model="gemma", messages=messages, max_tokens=24, stream=True, seed=index
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    else:
        answer = client.chat.completions.create(
            model="gemma", messages=messages, max_tokens=24, seed=index
        )
        text = answer.choices[0].message.content or ""
    assert_clean(text)


def test_a_clients_own_stop_strings_still_apply(client):
    answer = client.chat.completions.create(
        model="gemma",
        messages=[{"role": "user", "content": "Count from one to ten: one, two,"}],
        max_tokens=24,
        stop=[","],
    )
    assert "," not in (answer.choices[0].message.content or "")


def test_a_model_without_a_chat_format_gets_a_400_that_points_to_completions(served, llama, client):
    served.cli(
        "models", "add", "base-only", "--url", f"{llama.url}/v1", "--engine", "llamacpp",
        "--upstream-model", "gemma", "--completions-only",
    )  # fmt: skip
    deadline = time.monotonic() + 10  # the server follows the configuration every 0.1 s
    while "base-only" not in {m.id for m in client.models.list()}:
        assert time.monotonic() < deadline, "the new model never reached the server"
        time.sleep(0.05)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="base-only", messages=[{"role": "user", "content": "Hi"}], max_tokens=4
        )
    error: dict = refused.value.body  # type: ignore[assignment]
    assert error["code"] == "model_has_no_chat_format" and error["param"] == "messages"
    assert "/v1/completions" in error["message"]
    answer = client.completions.create(
        model="base-only", prompt="The capital of France is", max_tokens=4
    )
    assert answer.choices[0].text
