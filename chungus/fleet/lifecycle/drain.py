"""Draining: a deployment that is being stopped first leaves routing, then finishes its requests.

The reconciler removes the deployment's backends from routing (every CHUNGUS process
drops them at its next snapshot reload, within CHUNGUS_REFRESH_SECONDS), then waits
until nothing is in flight, or the drain timeout passes, before stopping the engine.
In flight counts both this process's own requests and what the engine reports of
itself (llama.cpp `/slots` and `/metrics`, vLLM `/metrics`), which includes requests
that other CHUNGUS processes sent it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from chungus.engines import registry
from chungus.engines.scrape import scrape_load


@dataclass(frozen=True, slots=True)
class DrainPolicy:
    grace: float = 1.0  # never less: other processes stop routing at their next reload
    timeout: float = 30.0  # never more: then the engine is stopped with what it still runs
    poll: float = 0.5


@dataclass(frozen=True, slots=True)
class Replica:
    """One engine being drained: its address and the backend ids it was routed as."""

    address: str
    engine: str
    backend_ids: tuple[int, ...] = ()
    api_key: str = field(default="", repr=False)  # the engine's secret, where it has one


InFlight = Callable[[Sequence[int]], int]  # this process's requests on these backend ids
Progress = Callable[[str], Awaitable[None]]


def finished(elapsed: float, in_flight: int, policy: DrainPolicy) -> str | None:
    """Why draining is over, or None while it goes on (pure)."""
    if elapsed >= policy.timeout:
        return f"drain timed out after {policy.timeout:.0f} s with {in_flight} request(s) in flight"
    if elapsed >= policy.grace and in_flight == 0:
        return f"drained in {elapsed:.1f} s"
    return None


async def engine_in_flight(session: aiohttp.ClientSession, replica: Replica) -> int | None:
    """Requests the engine says it is running or queueing; None where it does not say."""
    engine = registry.get(replica.engine)
    if engine is None:
        return None
    headers = {"Authorization": f"Bearer {replica.api_key}"} if replica.api_key else None
    load = await scrape_load(session, engine, replica.address, headers)
    if load.running is None and load.waiting is None:
        return None
    return (load.running or 0) + (load.waiting or 0)


async def drain(
    replicas: Sequence[Replica],
    local_in_flight: InFlight,
    policy: DrainPolicy,
    progress: Progress,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> str:
    """Wait until the replicas serve nothing (or the timeout); return how it ended."""
    pause = sleep or asyncio.sleep
    started = time.monotonic()
    reported = -1
    timeout = aiohttp.ClientTimeout(total=min(2.0, max(policy.poll, 0.5)))
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            count = 0
            for replica in replicas:
                ours = local_in_flight(replica.backend_ids)
                theirs = await engine_in_flight(session, replica)
                # The engine's count includes ours once they arrive; ours covers the moment before.
                count += max(ours, theirs or 0)
            done = finished(time.monotonic() - started, count, policy)
            if done is not None:
                return done
            if count != reported:
                reported = count
                await progress(f"{count} request(s) in flight")
            await pause(policy.poll)
