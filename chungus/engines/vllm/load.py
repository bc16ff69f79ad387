"""Reading vLLM's load from its `/metrics` (Prometheus), pure.

Scrapes this was written against are in `tests/scrapes/` (see its README).
"""

from __future__ import annotations

from chungus.engines.load import EngineLoad, count, finite, samples_or_empty, sums


def vllm_load(metrics_text: str | None) -> EngineLoad:
    """Read vLLM's `/metrics`, summing counts over label sets (model, data-parallel engine).

    KV usage is `vllm:kv_cache_usage_perc`, or the older `vllm:gpu_cache_usage_perc`, averaged
    over engines. `vllm:prompt_tokens_total` already includes cached tokens; the cached ones are
    `vllm:prompt_tokens_cached_total` (newest) or `vllm:prefix_cache_hits_total`, both in tokens.
    Not read: `vllm:gpu_prefix_cache_hits_total` (counted blocks in some versions) and V0's
    `vllm:gpu_prefix_cache_hit_rate` (a rate, not a counter).
    """
    samples = samples_or_empty(metrics_text)
    totals = sums(samples)
    usage = samples.get("vllm:kv_cache_usage_perc") or samples.get("vllm:gpu_cache_usage_perc")
    return EngineLoad(
        running=count(totals.get("vllm:num_requests_running")),
        waiting=count(totals.get("vllm:num_requests_waiting")),
        kv_cache_usage=finite(sum(usage) / len(usage)) if usage else None,
        prompt_tokens_total=finite(totals.get("vllm:prompt_tokens_total")),
        prompt_tokens_cached_total=finite(
            totals.get(
                "vllm:prompt_tokens_cached_total", totals.get("vllm:prefix_cache_hits_total")
            )
        ),
    )
