"""Reading engine load from real scrapes (tests/scrapes/README.md says where each came from)."""

import json
import urllib.request
from pathlib import Path

import pytest

from chungus.fleet.engine_load import (
    EngineLoad,
    llamacpp_load,
    load_for,
    load_score,
    metric_samples,
    parse_prometheus,
    vllm_load,
)

SCRAPES = Path(__file__).parent / "scrapes"


def scrape(name):
    return (SCRAPES / name).read_text()


def slots(name):
    return json.loads(scrape(name))


def test_it_sums_samples_of_one_name_across_label_sets():
    values = parse_prometheus(scrape("vllm_metrics.txt"))
    # local_compute 98 + local_cache_hit 432 + external_kv_transfer 0
    assert values["vllm:prompt_tokens_by_source_total"] == 530
    assert values["vllm:request_success_total"] == 10


def test_it_keeps_one_value_per_label_set_when_asked_for_samples():
    samples = metric_samples(scrape("vllm_metrics.txt"))
    # finished_reason stop, length, abort, error, repetition
    assert samples["vllm:request_success_total"] == [0, 10, 0, 0, 0]


def test_it_reads_gauges_and_counters_from_a_llamacpp_scrape_past_its_comments():
    values = parse_prometheus(scrape("llamacpp_metrics_busy.txt"))
    assert values["llamacpp:requests_processing"] == 2
    assert values["llamacpp:requests_deferred"] == 1
    assert values["llamacpp:prompt_tokens_total"] == 104
    assert not any(name.startswith("#") for name in values)


def test_it_reads_nan_infinity_and_timestamps():
    # Hand-written: no engine scraped here exported such values.
    values = parse_prometheus('a{x="1"} NaN\nb +Inf\nc -Inf 1700000000\nd{q="x\\"y"} 2\n')
    assert values["a"] != values["a"]
    assert values["b"] == float("inf") and values["c"] == float("-inf") and values["d"] == 2


def test_it_rejects_text_that_is_not_prometheus():
    with pytest.raises(ValueError):
        parse_prometheus("<html><body>502 Bad Gateway</body></html>")


def test_it_reads_an_idle_llamacpp_server():
    load = llamacpp_load(scrape("llamacpp_metrics_idle.txt"), slots("llamacpp_slots_idle.json"))
    assert load == EngineLoad(
        running=0,
        waiting=0,
        slots_total=2,
        slots_idle=2,
        kv_cache_usage=None,
        prompt_tokens_total=35,
        prompt_tokens_cached_total=0,
    )


def test_it_reads_running_and_deferred_requests_from_a_busy_llamacpp_server():
    load = llamacpp_load(scrape("llamacpp_metrics_busy.txt"), slots("llamacpp_slots_busy.json"))
    assert (load.running, load.waiting) == (2, 1)
    assert (load.slots_total, load.slots_idle) == (2, 0)


def test_it_counts_cached_llamacpp_prompt_tokens_into_the_total():
    # Three 35-token prompts so far: 104 evaluated plus 1 reused from the cache.
    load = llamacpp_load(scrape("llamacpp_metrics_busy.txt"), None)
    assert (load.prompt_tokens_total, load.prompt_tokens_cached_total) == (105, 1)


def test_it_counts_busy_slots_when_llamacpp_runs_without_metrics():
    load = llamacpp_load(None, slots("llamacpp_slots_busy.json"))
    assert (load.running, load.waiting, load.slots_idle) == (2, None, 0)
    assert load.prompt_tokens_total is None


def test_it_leaves_slots_unknown_when_llamacpp_has_no_slots_endpoint():
    load = llamacpp_load(scrape("llamacpp_metrics_busy.txt"), None)
    assert load.slots_total is None and load.slots_idle is None and load.running == 2


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


def test_it_dispatches_by_engine_name():
    metrics, busy = scrape("llamacpp_metrics_busy.txt"), slots("llamacpp_slots_busy.json")
    assert load_for("llamacpp", metrics, busy) == llamacpp_load(metrics, busy)
    vllm = scrape("vllm_metrics.txt")
    assert load_for("vllm", vllm, None) == vllm_load(vllm)
    assert load_for("ollama", vllm, None) == EngineLoad()
    assert load_for("vllm", None, None) == EngineLoad()


def test_a_scrape_that_is_not_prometheus_text_reads_as_no_report():
    html = "<html><body>502 Bad Gateway</body></html>"
    assert load_for("vllm", html, None) == EngineLoad()
    assert load_for("llamacpp", html, slots("llamacpp_slots_busy.json")).running == 2


def test_the_score_counts_what_the_engine_runs_and_queues():
    load = llamacpp_load(scrape("llamacpp_metrics_busy.txt"), None)
    assert load_score(load, in_flight=0) == 3


def test_the_score_takes_our_in_flight_count_when_the_scrape_is_behind():
    load = llamacpp_load(scrape("llamacpp_metrics_idle.txt"), None)
    assert load_score(load, in_flight=2) == 2


def test_the_score_is_our_in_flight_count_without_a_report():
    assert load_score(EngineLoad(), in_flight=4) == 4


def test_kv_cache_usage_only_breaks_ties_between_equally_busy_backends():
    full = EngineLoad(running=1, waiting=0, kv_cache_usage=1.0)
    empty = EngineLoad(running=1, waiting=0, kv_cache_usage=0.0)
    busier = EngineLoad(running=2, waiting=0, kv_cache_usage=0.0)
    assert load_score(empty, 0) < load_score(full, 0) < load_score(busier, 0)


def test_it_reads_a_live_llama_server(llama):
    def get(path):
        with urllib.request.urlopen(llama.url + path, timeout=10) as response:
            return response.read().decode()

    load = load_for("llamacpp", get("/metrics"), json.loads(get("/slots")))
    assert load.slots_total == 2 and load.running is not None and load.waiting is not None
    assert load.prompt_tokens_total is not None
