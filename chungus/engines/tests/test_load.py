"""Engine load in general: Prometheus text read from real scrapes (the engine packages'
tests/scrapes/README.md say where each came from), the load score, and each engine's parse."""

import json
from pathlib import Path

import pytest

from chungus.engines import registry
from chungus.engines.llamacpp.load import llamacpp_load
from chungus.engines.load import EngineLoad, load_score, metric_samples, parse_prometheus
from chungus.engines.vllm.load import vllm_load

ENGINES = Path(__file__).parent.parent
LLAMACPP_SCRAPES = ENGINES / "llamacpp" / "tests" / "scrapes"
VLLM_SCRAPES = ENGINES / "vllm" / "tests" / "scrapes"


def scrape(name):
    folder = LLAMACPP_SCRAPES if name.startswith("llamacpp") else VLLM_SCRAPES
    return (folder / name).read_text()


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


def test_each_engine_reads_its_own_reports():
    metrics, busy = scrape("llamacpp_metrics_busy.txt"), scrape("llamacpp_slots_busy.json")
    llamacpp, vllm, ollama = (registry.by_name()[name] for name in ("llamacpp", "vllm", "ollama"))
    reports = {"/metrics": metrics, "/slots": busy}
    assert llamacpp.parse_load(reports) == llamacpp_load(metrics, json.loads(busy))
    text = scrape("vllm_metrics.txt")
    assert vllm.parse_load({"/metrics": text}) == vllm_load(text)
    assert ollama.load_paths == () and ollama.parse_load({"/metrics": text}) == EngineLoad()
    assert vllm.parse_load({"/metrics": None}) == EngineLoad()


def test_a_scrape_that_is_not_prometheus_text_reads_as_no_report():
    html = "<html><body>502 Bad Gateway</body></html>"
    assert registry.by_name()["vllm"].parse_load({"/metrics": html}) == EngineLoad()
    busy = scrape("llamacpp_slots_busy.json")
    llamacpp = registry.by_name()["llamacpp"]
    assert llamacpp.parse_load({"/metrics": html, "/slots": busy}).running == 2
