"""Answers completed with the fields OpenAI always sends."""

from typing import Any

from chungus.engines.openai.compat import complete_response


def test_it_adds_the_fields_llama_cpp_leaves_out():
    answer: dict[str, Any] = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}}]
    }
    assert complete_response(answer)
    assert answer["choices"][0]["logprobs"] is None
    assert answer["choices"][0]["message"]["refusal"] is None


def test_it_leaves_complete_answers_and_legacy_completions_alone():
    answer = {"choices": [{"logprobs": None, "message": {"refusal": None}}]}
    assert not complete_response(answer)
    legacy = {"choices": [{"text": "x"}]}
    assert complete_response(legacy) and legacy["choices"][0] == {"text": "x", "logprobs": None}
