"""Reading an engine's own load report over HTTP: GET its `load_paths`, let it parse them."""

from __future__ import annotations

import aiohttp

from chungus.engines.base import Engine
from chungus.engines.load import EngineLoad


async def scrape_load(session: aiohttp.ClientSession, engine: Engine, root: str) -> EngineLoad:
    """The engine's load as it reports it; EngineLoad() where it does not say (nothing is sent)."""
    if not engine.load_paths:
        return EngineLoad()
    reports = {path: await _get_text(session, root + path) for path in engine.load_paths}
    return engine.parse_load(reports)


async def _get_text(session: aiohttp.ClientSession, url: str) -> str | None:
    try:
        async with session.get(url) as response:
            return await response.text() if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None
