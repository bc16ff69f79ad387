"""An engine's own load report as one small typed value, and the Prometheus reading it needs.

Pure functions: scrape.py fetches an engine's reports, its package's `parse_load` reads
them with these helpers, the router compares `load_score`s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

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
    return sums(metric_samples(text))


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


def samples_or_empty(text: str | None) -> dict[str, list[float]]:
    """The samples of a scrape; none for a missing one or one that is not Prometheus text."""
    if text is None:
        return {}
    try:
        return metric_samples(text)
    except ValueError:
        return {}


def sums(samples: Mapping[str, list[float]]) -> dict[str, float]:
    """Each sample name's values summed over its label sets."""
    return {name: sum(values, 0.0) for name, values in samples.items()}


def finite(value: float | None) -> float | None:
    """The value, or None for a missing, NaN or infinite one."""
    return value if value is not None and math.isfinite(value) else None


def count(value: float | None) -> int | None:
    """A finite value rounded to a count, else None."""
    known = finite(value)
    return None if known is None else round(known)
