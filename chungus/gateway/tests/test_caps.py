"""A model's per-request caps: over one is a 400 naming the field; no max_tokens gets the cap."""

import orjson
import pytest

from chungus.core.routes import RequestCaps
from chungus.gateway.caps import UNBOUNDED_OUTPUT_TOKENS, apply_caps, output_tokens
from chungus.gateway.payload import parse_completion
from chungus.lib.openai_errors import InvalidRequest

CAPS = RequestCaps(max_output_tokens=512, max_n=4, max_prompts=8)
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def capped(body, chat=True, caps=CAPS):
    request = parse_completion(orjson.dumps(body), chat=chat)
    apply_caps(request, caps)
    return request


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"max_tokens": 513}, "max_tokens"),
        ({"max_completion_tokens": 10_000}, "max_completion_tokens"),
        ({"max_tokens": 100, "max_completion_tokens": 600}, "max_completion_tokens"),
        ({"n": 5}, "n"),
    ],
)
def test_a_request_over_a_cap_is_a_400_naming_the_field(change, param):
    with pytest.raises(InvalidRequest) as error:
        capped({**CHAT, **change})
    assert error.value.status == 400
    assert error.value.param == param
    assert "512" in error.value.message or "4 choices" in error.value.message


def test_a_prompt_array_over_the_cap_is_a_400():
    with pytest.raises(InvalidRequest) as error:
        capped({"model": "m", "prompt": ["p"] * 9}, chat=False)
    assert error.value.param == "prompt"
    assert capped({"model": "m", "prompt": ["p"] * 8}, chat=False)


def test_one_token_array_is_one_prompt():
    assert capped({"model": "m", "prompt": list(range(100))}, chat=False)


def test_a_request_without_an_output_limit_gets_the_models_and_sends_it():
    request = capped(CHAT)
    assert request.body["max_tokens"] == 512
    assert orjson.loads(request.raw)["max_tokens"] == 512


def test_a_request_within_the_caps_is_sent_as_it_came():
    body = {**CHAT, "max_tokens": 512, "n": 4}
    request = capped(body)
    assert request.raw == orjson.dumps(body)


def test_no_caps_bound_nothing():
    request = capped({**CHAT, "max_tokens": 100_000, "n": 100}, caps=RequestCaps())
    assert request.body["max_tokens"] == 100_000
    assert "max_tokens" not in capped(CHAT, caps=RequestCaps()).body


def test_the_output_a_request_may_ask_for_counts_every_choice():
    assert output_tokens(capped({**CHAT, "n": 3}), CAPS) == 3 * 512
    assert output_tokens(capped({**CHAT, "max_tokens": 9, "max_completion_tokens": 7}), CAPS) == 7


@pytest.mark.parametrize(
    ("change", "reserved"),
    [
        ({"prompt": ["a", "b", "c"]}, 10 * 3),
        ({"prompt": ["a", "b", "c"], "n": 2}, 10 * 3 * 2),
        ({"prompt": ["a", "b", "c"], "n": 2, "best_of": 4}, 10 * 3 * 4),
        ({"prompt": "a", "n": 3, "best_of": 2}, 10 * 3),
        ({"prompt": [[1, 2], [3, 4]], "best_of": 5}, 10 * 2 * 5),
        ({"prompt": [1, 2, 3], "n": 2}, 10 * 2),  # one token array is one prompt
    ],
)
def test_the_output_of_completions_counts_every_prompt_and_the_best_of_choices(change, reserved):
    request = capped({"model": "m", "max_tokens": 10, **change}, chat=False, caps=RequestCaps())
    assert output_tokens(request, RequestCaps()) == reserved


def test_a_request_bounded_by_nothing_reserves_the_context_or_the_documented_default():
    unbounded = capped({**CHAT, "n": 2}, caps=RequestCaps())
    assert output_tokens(unbounded, RequestCaps(context=8192)) == 2 * 8192
    assert output_tokens(unbounded, RequestCaps()) == 2 * UNBOUNDED_OUTPUT_TOKENS
    prompts = capped({"model": "m", "prompt": ["a", "b"]}, chat=False, caps=RequestCaps())
    assert output_tokens(prompts, RequestCaps()) == 2 * UNBOUNDED_OUTPUT_TOKENS


def test_the_output_given_leaves_the_prompt_room_in_a_known_context():
    caps = RequestCaps(max_output_tokens=4096, context=4096)
    request = capped({**CHAT, "messages": [{"role": "user", "content": "x" * 3000}]}, caps=caps)
    assert 4096 - 1100 < request.body["max_tokens"] < 4096 - 1000
    assert (
        capped(CHAT, caps=RequestCaps(max_output_tokens=100, context=4096)).body["max_tokens"]
        == 100
    )
