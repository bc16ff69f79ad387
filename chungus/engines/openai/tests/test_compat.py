"""Answers completed with the fields OpenAI always sends."""

import copy
from typing import Any

from chungus.engines.openai.compat import complete_response


def test_it_adds_the_fields_llama_cpp_leaves_out():
    answer: dict[str, Any] = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}}]
    }
    assert complete_response(answer)
    assert answer["choices"][0]["logprobs"] is None
    assert answer["choices"][0]["message"]["refusal"] is None


def test_it_leaves_complete_answers_alone():
    answer = {
        "choices": [
            {
                "logprobs": {"content": [{"token": "x", "logprob": -0.1}]},
                "message": {"role": "assistant", "content": "x", "refusal": "no"},
            }
        ]
    }
    before = copy.deepcopy(answer)
    assert not complete_response(answer)
    assert answer == before


def test_it_gives_legacy_completions_their_logprobs_but_no_message():
    legacy: dict[str, Any] = {"choices": [{"text": "x"}]}
    assert complete_response(legacy)
    assert legacy["choices"][0] == {"text": "x", "logprobs": None}
