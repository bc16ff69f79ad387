"""Reading an engine's own load report over HTTP: GET its `load_paths`, let it parse them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from chungus.engines.base import Engine
from chungus.engines.load import EngineLoad


async def scrape_load(
    session: aiohttp.ClientSession,
    engine: Engine,
    root: str,
    headers: Mapping[str, str] | None = None,
) -> EngineLoad:
    """The engine's load as it reports it; EngineLoad() where it does not say (nothing is sent).
    `headers` carry the engine's key, where it wants one (llama-server guards /metrics)."""
    if not engine.load_paths:
        return EngineLoad()
    reports = {path: await _get_text(session, root + path, headers) for path in engine.load_paths}
    # A metrics page can be hundreds of kB (vLLM's histograms): parsed off the event loop.
    return await asyncio.to_thread(engine.parse_load, reports)


async def _get_text(
    session: aiohttp.ClientSession, url: str, headers: Mapping[str, str] | None
) -> str | None:
    try:
        async with session.get(url, headers=headers) as response:
            return await response.text() if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None
