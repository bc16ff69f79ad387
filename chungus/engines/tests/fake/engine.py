"""A test's own engine package: the fake OpenAI server (chungus.testing.fake_engine) as an
engine CHUNGUS launches, routes to and reads the load of. It lives under tests/, so the
registry does not find it; a test registers it (registry.registered)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import orjson

from chungus.engines.base import DeploymentPlan, Engine, LaunchSpec
from chungus.engines.load import EngineLoad
from chungus.engines.openai.adapter import OpenAIAdapter


class FakeAdapter(OpenAIAdapter):
    health_path = "/health"


class FakeEngine(Engine):
    name = "fake"
    label = "fake OpenAI server (tests only)"
    launchable = True
    load_paths = ("/stats",)
    adapter_class = FakeAdapter

    def launch_spec(
        self, plan: DeploymentPlan, home: Path, name: str, port: int, gpus: tuple[int, ...]
    ) -> LaunchSpec:
        command = (sys.executable, "-m", "chungus.testing.fake_engine", "--port", str(port))
        return LaunchSpec(name, command, port, self.health_path, gpus=gpus)

    def estimate_memory_mb(self, source: str, context_length: int, home: Path) -> tuple[int, str]:
        return 1, "a fake needs next to nothing"

    def parse_load(self, reports: Mapping[str, str | None]) -> EngineLoad:
        try:
            stats = orjson.loads(reports.get("/stats") or b"{}")
        except orjson.JSONDecodeError:
            return EngineLoad()
        running = stats.get("running") if isinstance(stats, dict) else None
        return EngineLoad(running=running, waiting=0) if isinstance(running, int) else EngineLoad()


ENGINES = (FakeEngine(),)
