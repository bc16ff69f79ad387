"""Reading an engine's own load report over HTTP (llama.cpp `/metrics` and `/slots`, vLLM
`/metrics`); engine_load.py parses what this fetches."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from chungus.fleet.engine_load import EngineLoad, load_for

REPORTING = ("llamacpp", "vllm")  # engines that say how busy they are


async def scrape_load(session: aiohttp.ClientSession, engine: str, root: str) -> EngineLoad:
    """The engine's load as it reports it; EngineLoad() where it does not say."""
    if engine not in REPORTING:
        return EngineLoad()
    metrics = await _get_text(session, root + "/metrics")
    slots = _json_list(await _get_text(session, root + "/slots")) if engine == "llamacpp" else None
    return load_for(engine, metrics, slots)


async def _get_text(session: aiohttp.ClientSession, url: str) -> str | None:
    try:
        async with session.get(url) as response:
            return await response.text() if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None


def _json_list(text: str | None) -> list[dict[str, Any]] | None:
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None
