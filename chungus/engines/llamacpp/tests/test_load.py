"""Reading llama-server's load from real scrapes (tests/scrapes/README.md says where each came
from) and from a live llama-server."""

import json
import urllib.request
from pathlib import Path

from chungus.engines.llamacpp.load import llamacpp_load
from chungus.engines.load import EngineLoad

SCRAPES = Path(__file__).parent / "scrapes"


def scrape(name):
    return (SCRAPES / name).read_text()


def slots(name):
    return json.loads(scrape(name))


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


def test_it_reads_a_live_llama_server(llama):
    def get(path):
        with urllib.request.urlopen(llama.url + path, timeout=10) as response:
            return response.read().decode()

    load = llamacpp_load(get("/metrics"), json.loads(get("/slots")))
    assert load.slots_total == 2 and load.running is not None and load.waiting is not None
    assert load.prompt_tokens_total is not None
