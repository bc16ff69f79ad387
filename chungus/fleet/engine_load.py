"""Engine load reports (Prometheus `/metrics`, llama.cpp `/slots`) as one small typed value.

Pure functions: the health monitor fetches the texts, these read them, the router compares
`load_score`s. Scrapes these were written against are in `tests/scrapes/` (see its README).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Slots = Sequence[Mapping[str, Any]]

# Below one request, so KV-cache usage only breaks ties between equally busy backends.
KV_TIE_BREAK = 0.5


@dataclass(frozen=True, slots=True)
class EngineLoad:
    """What an engine says about its own load; None wherever it does not say."""

    running: int | None = None  # requests being processed now
    waiting: int | None = None  # requests queued inside the engine
    slots_total: int | None = None  # parallel capacity, where the engine says (llama.cpp slots)
    slots_idle: int | None = None
    kv_cache_usage: float | None = None  # 0..1
    # Counters, for benchmarks. prompt_tokens_total counts every prompt token, cached or not
    # (where the engine does not report cached tokens: the tokens it evaluated).
    prompt_tokens_total: float | None = None
    prompt_tokens_cached_total: float | None = None


def metric_samples(text: str) -> dict[str, list[float]]:
    """The values of each sample name in a Prometheus text scrape, one per label set.

    prometheus_client's parser handles comments, labels, timestamps, NaN and ±Inf; note that
    it appends `_total` to counter samples lacking it (`llamacpp:n_tokens_max` is read as
    `llamacpp:n_tokens_max_total`). Raises ValueError for text in another format.
    """
    samples: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(float(sample.value))
    return samples


def parse_prometheus(text: str) -> dict[str, float]:
    """Sample name -> its value summed over label sets (vLLM labels by model and engine)."""
    return _sums(metric_samples(text))


def llamacpp_load(metrics_text: str | None, slots_json: Slots | None) -> EngineLoad:
    """Read llama-server's `/metrics` (needs --metrics) and `/slots`; either may be None.

    running is `llamacpp:requests_processing`, else the slots with `is_processing`; waiting is
    `llamacpp:requests_deferred` (queued for a free slot). `llamacpp:kv_cache_usage_ratio`
    exists only in older builds. `llamacpp:prompt_tokens_total` excludes reused tokens, so
    `llamacpp:prompt_tokens_cached_total` is added back to count every prompt token, as vLLM does.
    """
    metrics = _sums(_samples_or_empty(metrics_text))
    slots_total = slots_idle = busy_slots = None
    if slots_json is not None:
        slots_total = len(slots_json)
        busy_slots = sum(1 for slot in slots_json if slot.get("is_processing"))
        slots_idle = slots_total - busy_slots
    running = _count(metrics.get("llamacpp:requests_processing"))
    evaluated = _finite(metrics.get("llamacpp:prompt_tokens_total"))
    cached = _finite(metrics.get("llamacpp:prompt_tokens_cached_total"))
    return EngineLoad(
        running=running if running is not None else busy_slots,
        waiting=_count(metrics.get("llamacpp:requests_deferred")),
        slots_total=slots_total,
        slots_idle=slots_idle,
        kv_cache_usage=_finite(metrics.get("llamacpp:kv_cache_usage_ratio")),
        prompt_tokens_total=None if evaluated is None else evaluated + (cached or 0.0),
        prompt_tokens_cached_total=cached,
    )


def vllm_load(metrics_text: str | None) -> EngineLoad:
    """Read vLLM's `/metrics`, summing counts over label sets (model, data-parallel engine).

    KV usage is `vllm:kv_cache_usage_perc`, or the older `vllm:gpu_cache_usage_perc`, averaged
    over engines. `vllm:prompt_tokens_total` already includes cached tokens; the cached ones are
    `vllm:prompt_tokens_cached_total` (newest) or `vllm:prefix_cache_hits_total`, both in tokens.
    Not read: `vllm:gpu_prefix_cache_hits_total` (counted blocks in some versions) and V0's
    `vllm:gpu_prefix_cache_hit_rate` (a rate, not a counter).
    """
    samples = _samples_or_empty(metrics_text)
    sums = _sums(samples)
    usage = samples.get("vllm:kv_cache_usage_perc") or samples.get("vllm:gpu_cache_usage_perc")
    return EngineLoad(
        running=_count(sums.get("vllm:num_requests_running")),
        waiting=_count(sums.get("vllm:num_requests_waiting")),
        kv_cache_usage=_finite(sum(usage) / len(usage)) if usage else None,
        prompt_tokens_total=_finite(sums.get("vllm:prompt_tokens_total")),
        prompt_tokens_cached_total=_finite(
            sums.get("vllm:prompt_tokens_cached_total", sums.get("vllm:prefix_cache_hits_total"))
        ),
    )


def load_for(engine: str, metrics_text: str | None, slots_json: Slots | None) -> EngineLoad:
    """The load of a backend by its engine name; EngineLoad() for engines not read here.

    Never raises: a scrape that is not Prometheus text reads as no report at all.
    """
    if engine == "llamacpp":
        return llamacpp_load(metrics_text, slots_json)
    if engine == "vllm":
        return vllm_load(metrics_text)
    return EngineLoad()


def load_score(load: EngineLoad, in_flight: int) -> float:
    """How busy a backend is, lower is better: requests at the engine, KV usage breaking ties.

    Requests are the larger of the engine's running + waiting and our own in-flight count:
    a scrape is seconds old and misses a burst we just sent, while our count misses other
    clients' traffic; taking the larger never double-counts. Without a report: in-flight.
    """
    requests = float(in_flight)
    if load.running is not None or load.waiting is not None:
        requests = max(requests, float((load.running or 0) + (load.waiting or 0)))
    return requests + KV_TIE_BREAK * (load.kv_cache_usage or 0.0)


def _samples_or_empty(text: str | None) -> dict[str, list[float]]:
    if text is None:
        return {}
    try:
        return metric_samples(text)
    except ValueError:
        return {}


def _sums(samples: Mapping[str, list[float]]) -> dict[str, float]:
    return {name: sum(values, 0.0) for name, values in samples.items()}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _count(value: float | None) -> int | None:
    finite = _finite(value)
    return None if finite is None else round(finite)
