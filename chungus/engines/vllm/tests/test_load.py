"""Reading vLLM's load from real scrapes (tests/scrapes/README.md says where each came from)."""

from pathlib import Path

import pytest

from chungus.engines.vllm.load import vllm_load

SCRAPES = Path(__file__).parent / "scrapes"


def scrape(name):
    return (SCRAPES / name).read_text()


def test_it_reads_running_and_waiting_from_a_vllm_scrape():
    load = vllm_load(scrape("vllm_metrics.txt"))
    assert (load.running, load.waiting, load.kv_cache_usage) == (0, 0, 0.0)
    assert load.slots_total is None


def test_it_reads_prompt_and_cached_token_counters_from_a_vllm_scrape():
    load = vllm_load(scrape("vllm_metrics.txt"))
    assert (load.prompt_tokens_total, load.prompt_tokens_cached_total) == (530, 432)


def test_it_takes_cached_tokens_from_prefix_cache_hits_in_vllm_versions_without_the_counter():
    lines = scrape("vllm_metrics.txt").splitlines(keepends=True)
    older = "".join(line for line in lines if "prompt_tokens_cached" not in line)
    assert vllm_load(older).prompt_tokens_cached_total == 432


def test_it_reads_kv_cache_usage_from_a_vllm_0_10_scrape():
    load = vllm_load(scrape("vllm_metrics_2025_07_excerpt.txt"))
    assert load.kv_cache_usage == pytest.approx(9.75010481363281e-06)
    # Its deprecated gpu_prefix_cache_hits counter is not taken for cached tokens.
    assert load.prompt_tokens_cached_total is None and load.running is None


def test_it_reads_kv_cache_usage_under_its_older_vllm_name():
    load = vllm_load(scrape("vllm_metrics_2025_03_excerpt.txt"))
    assert (load.running, load.waiting, load.kv_cache_usage) == (0, 0, 0.0)


def test_it_sums_requests_over_vllm_engines_and_averages_their_kv_usage():
    # Hand-written in vLLM's shape: no data-parallel scrape was at hand.
    text = (
        'vllm:num_requests_running{engine="0",model_name="m"} 3.0\n'
        'vllm:num_requests_running{engine="1",model_name="m"} 5.0\n'
        'vllm:num_requests_waiting{engine="0",model_name="m"} 1.0\n'
        'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.2\n'
        'vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.6\n'
    )
    load = vllm_load(text)
    assert (load.running, load.waiting) == (8, 1)
    assert load.kv_cache_usage == pytest.approx(0.4)
