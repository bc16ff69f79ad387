"""Parsing and checking client request bodies."""

import orjson
import pytest

from chungus.gateway.payload import parse_completion, prompt_estimate
from chungus.lib.openai_errors import InvalidRequest

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def parse(body, chat=True):
    return parse_completion(orjson.dumps(body), chat=chat)


def test_it_rejects_malformed_json():
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        parse_completion(b"{nope", chat=True)


def test_it_rejects_a_body_that_is_not_an_object():
    with pytest.raises(InvalidRequest, match="must be a JSON object"):
        parse([1, 2])


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"model": 3}, "model"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"content": "no role"}]}, "messages[0]"),
        ({"stream": "yes"}, "stream"),
        ({"max_tokens": "10"}, "max_tokens"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"temperature": "hot"}, "temperature"),
        ({"stream_options": 1}, "stream_options"),
    ],
)
def test_it_names_the_field_that_has_the_wrong_type(change, param):
    with pytest.raises(InvalidRequest) as error:
        parse({**CHAT, **change})
    assert error.value.param == param


def test_completions_need_a_prompt():
    with pytest.raises(InvalidRequest, match="'prompt' is required"):
        parse({"model": "m"}, chat=False)
    assert parse({"model": "m", "prompt": "x"}, chat=False).model == "m"


def test_it_remembers_that_the_client_asked_for_usage():
    request = parse({**CHAT, "stream": True, "stream_options": {"include_usage": True}})
    assert request.wants_usage


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role", "invalid_value"),
        ({"temperature": 5}, "temperature", "decimal_above_max_value"),
        ({"temperature": -0.1}, "temperature", "decimal_below_min_value"),
        ({"top_p": 1.5}, "top_p", "decimal_above_max_value"),
        ({"presence_penalty": -3}, "presence_penalty", "decimal_below_min_value"),
        ({"frequency_penalty": 2.5}, "frequency_penalty", "decimal_above_max_value"),
        ({"n": 0}, "n", "integer_below_min_value"),
        ({"n": 129}, "n", "integer_above_max_value"),
        ({"max_tokens": 0}, "max_tokens", "integer_below_min_value"),
        ({"max_completion_tokens": 0}, "max_completion_tokens", "integer_below_min_value"),
        ({"top_logprobs": 21}, "top_logprobs", "integer_above_max_value"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "array_above_max_length"),
        ({"stop": ["a", 1]}, "stop", None),
        ({"stop": 7}, "stop", None),
        ({"logprobs": 3}, "logprobs", None),
    ],
)
def test_it_answers_values_out_of_openais_range_as_openai_does(change, param, code):
    with pytest.raises(InvalidRequest) as error:
        parse({**CHAT, **change})
    assert (error.value.param, error.value.code) == (param, code)
    assert error.value.status == 400


def test_every_role_openai_knows_is_accepted():
    roles = ["system", "developer", "user", "assistant", "tool", "function"]
    body = {**CHAT, "messages": [{"role": r, "content": "x"} for r in roles]}
    assert len(parse(body).body["messages"]) == 6


def test_values_at_the_edges_of_openais_ranges_are_accepted():
    edges = {"temperature": 2, "top_p": 0, "n": 128, "presence_penalty": -2, "seed": -1}
    assert parse({**CHAT, **edges, "stop": ["a", "b", "c", "d"], "logprobs": True}).body["n"] == 128


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"logprobs": 6}, "logprobs"),
        ({"best_of": 21}, "best_of"),
        ({"max_tokens": -1}, "max_tokens"),
    ],
)
def test_completions_have_their_own_bounds(change, param):
    with pytest.raises(InvalidRequest) as error:
        parse({"model": "m", "prompt": "x", **change}, chat=False)
    assert error.value.param == param


def test_a_completion_of_no_tokens_scores_the_prompt():
    assert parse({"model": "m", "prompt": "x", "max_tokens": 0, "echo": True}, chat=False)


def test_the_prompt_estimate_counts_text_but_not_inline_images():
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 40_000}}
    text = {"type": "text", "text": "x" * 400}
    request = parse({**CHAT, "messages": [{"role": "user", "content": [text, image]}]})
    assert 400 // 3 < prompt_estimate(request) < 400 // 3 + 40


def test_the_prompt_estimate_does_not_undercount_other_scripts():
    request = parse({"model": "m", "prompt": "猫" * 300}, chat=False)
    assert prompt_estimate(request) >= 300
