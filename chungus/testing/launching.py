"""Helpers for tests of launchers: wait for a launched engine, and talk to it through CHUNGUS."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from chungus.fleet.launchers.base import Launcher, LaunchState, LaunchStatus
from chungus.testing.processes import chungus_instance


async def wait_for_launch(
    launcher: Launcher, handle: Any, state: LaunchState, seconds: float = 90
) -> LaunchStatus:
    """Poll until the engine is in `state`; fail with the last status after `seconds`."""
    status = None
    for _ in range(int(seconds / 0.1)):
        status = await launcher.poll(handle)
        if status.state is state:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached {state}; last {status}")


def chat_through_chungus(home: Path, address: str | None) -> httpx.Response:
    """Register the llama-server at `address` as model `gemma` in a fresh CHUNGUS and chat."""
    assert address is not None, "a ready engine has an address"
    instance = chungus_instance(home)
    instance.cli("models", "add", "gemma", "--url", f"{address}/v1", "--engine", "llamacpp")
    key = instance.create_key("k")
    instance.start("--no-default-model")
    try:
        return instance.chat(key, "gemma")
    finally:
        instance.stop()
