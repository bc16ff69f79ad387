"""Scraping an engine's load report: a real llama-server, and engines that report none."""

import aiohttp

from chungus.engines import registry
from chungus.engines.load import EngineLoad
from chungus.engines.scrape import scrape_load


async def test_llama_server_reports_its_slots_and_requests(llama):
    async with aiohttp.ClientSession() as session:
        load = await scrape_load(session, registry.by_name()["llamacpp"], llama.url)
    assert load.slots_total and load.running == 0


async def test_an_engine_that_reports_nothing_is_not_asked():
    async with aiohttp.ClientSession() as session:
        assert await scrape_load(session, registry.by_name()["ollama"], "http://127.0.0.1:9") == (
            EngineLoad()
        )
