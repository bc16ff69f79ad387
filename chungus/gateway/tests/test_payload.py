"""Parsing and checking client request bodies."""

import orjson
import pytest

from chungus.gateway.payload import parse_completion
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
