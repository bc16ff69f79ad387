"""Scraping an engine's load report: a real llama-server, and engines that report none."""

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from chungus.engines import registry
from chungus.engines.load import EngineLoad
from chungus.engines.scrape import scrape_load


async def test_llama_server_reports_its_slots_and_requests(llama):
    async with aiohttp.ClientSession() as session:
        load = await scrape_load(session, registry.by_name()["llamacpp"], llama.url)
    assert (load.slots_total, load.slots_idle, load.running) == (2, 2, 0)  # it runs 2 slots


async def test_an_engine_that_reports_nothing_is_not_asked():
    asked: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(text="llamacpp:requests_processing 1\n")

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", answer)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        load = await scrape_load(
            session, registry.by_name()["ollama"], str(server.make_url("")).rstrip("/")
        )
    assert asked == [] and load == EngineLoad()
