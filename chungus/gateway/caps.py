"""A model's per-request bounds applied to a parsed request (pure): over a cap is a 400
naming the field, and a request that names no output limit gets the model's."""

from __future__ import annotations

from typing import Any

import orjson

from chungus.core.routes import RequestCaps
from chungus.gateway.payload import Completion, prompt_estimate
from chungus.lib.openai_errors import InvalidRequest

_OUTPUT_FIELDS = ("max_completion_tokens", "max_tokens")
UNBOUNDED_OUTPUT_TOKENS = 4096  # reserved per choice where neither request nor model bounds it


def apply_caps(request: Completion, caps: RequestCaps) -> None:
    """Check the request against the model's caps; give it the output cap when it has none."""
    body = request.body
    if caps.max_output_tokens:
        asked = [name for name in _OUTPUT_FIELDS if body.get(name) is not None]
        for name in asked:
            _at_most(name, body[name], caps.max_output_tokens, "tokens")
        if not asked:  # so one request cannot generate until the context is full
            body["max_tokens"] = given_output(request, caps)
            request.raw = orjson.dumps(body)
    if caps.max_n and body.get("n") is not None:
        _at_most("n", body["n"], caps.max_n, "choices")
    if caps.max_prompts and "prompt" in body:
        _at_most("prompt", prompt_count(body["prompt"]), caps.max_prompts, "prompts")


def given_output(request: Completion, caps: RequestCaps) -> int:
    """The output limit a request that names none is sent: the cap, less where the engine's
    context is known and the prompt would leave no room for it (vLLM refuses a request
    whose prompt and max_tokens together exceed its context)."""
    if not caps.context:
        return caps.max_output_tokens
    room = caps.context - prompt_estimate(request)
    return max(1, min(caps.max_output_tokens, room))


def output_tokens(request: Completion, caps: RequestCaps) -> int:
    """The most tokens the request may generate: its output limit for every choice (`n`, or
    `best_of` where larger: the engine generates that many and returns `n`) of every prompt."""
    body = request.body
    limits = [body[name] for name in _OUTPUT_FIELDS if isinstance(body.get(name), int)]
    # A request with no output limit, to a model without a cap, may generate until the
    # context is full: that bounds it, so it is what is reserved. Where the context is not
    # known either, UNBOUNDED_OUTPUT_TOKENS is; it is only a reservation, settled with the
    # real usage after (and never more than the key's whole limit: RateLimiter.reserve).
    each = min(limits) if limits else caps.context or UNBOUNDED_OUTPUT_TOKENS
    choices = max(_count(body.get("n")), _count(body.get("best_of")))
    prompts = prompt_count(body["prompt"]) if "prompt" in body else 1
    return each * choices * prompts


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 1 else 1


def prompt_count(prompt: Any) -> int:
    """Prompts in a completions `prompt`: a string or one token array is one."""
    if isinstance(prompt, list) and prompt and not all(isinstance(p, int) for p in prompt):
        return len(prompt)
    return 1


def _at_most(name: str, value: int, cap: int, unit: str) -> None:
    if value > cap:
        raise InvalidRequest(
            f"Invalid '{name}': {value} is above this model's limit of {cap} {unit} per request.",
            param=name,
            code="integer_above_max_value",
        )
