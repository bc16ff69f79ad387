"""Reading llama-server's load: its `/metrics` (Prometheus) and `/slots` (JSON), pure.

Scrapes this was written against are in `tests/scrapes/` (see its README).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from chungus.engines.load import EngineLoad, count, finite, samples_or_empty, sums

Slots = Sequence[Mapping[str, Any]]


def llamacpp_load(metrics_text: str | None, slots_json: Slots | None) -> EngineLoad:
    """Read llama-server's `/metrics` (needs --metrics) and `/slots`; either may be None.

    running is `llamacpp:requests_processing`, else the slots with `is_processing`; waiting is
    `llamacpp:requests_deferred` (queued for a free slot). `llamacpp:kv_cache_usage_ratio`
    exists only in older builds. `llamacpp:prompt_tokens_total` excludes reused tokens, so
    `llamacpp:prompt_tokens_cached_total` is added back to count every prompt token, as vLLM does.
    """
    metrics = sums(samples_or_empty(metrics_text))
    slots_total = slots_idle = busy_slots = None
    if slots_json is not None:
        slots_total = len(slots_json)
        busy_slots = sum(1 for slot in slots_json if slot.get("is_processing"))
        slots_idle = slots_total - busy_slots
    running = count(metrics.get("llamacpp:requests_processing"))
    evaluated = finite(metrics.get("llamacpp:prompt_tokens_total"))
    cached = finite(metrics.get("llamacpp:prompt_tokens_cached_total"))
    return EngineLoad(
        running=running if running is not None else busy_slots,
        waiting=count(metrics.get("llamacpp:requests_deferred")),
        slots_total=slots_total,
        slots_idle=slots_idle,
        kv_cache_usage=finite(metrics.get("llamacpp:kv_cache_usage_ratio")),
        prompt_tokens_total=None if evaluated is None else evaluated + (cached or 0.0),
        prompt_tokens_cached_total=cached,
    )


def json_list(text: str | None) -> list[dict[str, Any]] | None:
    """`/slots` as a list, or None when it is missing or something else."""
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None
