"""vLLM as an engine: `vllm serve` across GPUs, spoken to in OpenAI's API."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from chungus.engines.base import DeploymentPlan, Engine, LaunchSpec, replica_secret
from chungus.engines.load import EngineLoad
from chungus.engines.openai.adapter import OpenAIAdapter
from chungus.engines.vllm.guard import KEY_ENV, BearerGuard
from chungus.engines.vllm.load import vllm_load
from chungus.engines.vllm.server import VllmOptions, vllm_command
from chungus.lib.child_env import HUB_TOKEN

API_KEY_ENV = KEY_ENV  # vLLM's environment name for --api-key, which the guard reads too
GUARD = f"{BearerGuard.__module__}.{BearerGuard.__qualname__}"  # for vLLM's --middleware
# The directory holding the `chungus` package (this is chungus/engines/vllm/engine.py).
CHUNGUS_ROOT = Path(__file__).resolve().parents[3]


class VllmAdapter(OpenAIAdapter):
    health_path = "/health"


class Vllm(Engine):
    name = "vllm"
    label = "vLLM"
    rank = 20
    launchable = True
    fetches_model = True  # it may download the weights from Hugging Face first
    spans_gpus = True
    load_paths = ("/metrics",)
    adapter_class = VllmAdapter

    def launch_spec(
        self, plan: DeploymentPlan, home: Path, name: str, port: int, gpus: tuple[int, ...]
    ) -> LaunchSpec:
        options = VllmOptions(
            served_model_name=plan.name,
            tensor_parallel_size=plan.tensor_parallel,
            pipeline_parallel_size=plan.pipeline_parallel,
            max_model_len=plan.context_length,
            host="0.0.0.0" if plan.remote else "127.0.0.1",  # CHUNGUS is elsewhere
            # vLLM's own key guards /v1 only; the guard asks for it on every path but /health.
            middleware=(GUARD,) if plan.remote else (),
        )
        command = vllm_command(plan.source, port, options)
        # Only an engine that downloads from the Hub gets the token (for gated models).
        hub = (HUB_TOKEN,) if from_hub(plan.source) else ()
        if not plan.remote:
            return LaunchSpec(name, command, port, self.health_path, gpus=gpus, pass_env=hub)
        # On the network: vLLM and its guard read this key from their environment, which
        # `ps` does not show.
        key = replica_secret()
        env = {API_KEY_ENV: key, **guard_env(os.environ.get("PYTHONPATH", ""), CHUNGUS_ROOT)}
        return LaunchSpec(
            name, command, port, self.health_path, env, gpus, api_key=key, pass_env=hub
        )

    def estimate_memory_mb(self, source: str, context_length: int, home: Path) -> tuple[int, str]:
        return (
            0,
            "not estimated: give --memory-mb (vLLM takes --gpu-memory-utilization of each GPU)",
        )

    def parse_load(self, reports: Mapping[str, str | None]) -> EngineLoad:
        return vllm_load(reports.get("/metrics"))


def guard_env(inherited: str, root: Path) -> dict[str, str]:
    """The PYTHONPATH with which vLLM imports the guard from `root`, the directory holding
    CHUNGUS's `chungus` package, before `inherited` (CHUNGUS's own); {} where not needed.

    The `vllm` on a node may run in another Python than CHUNGUS (its own virtualenv, a
    cluster module), and the guard needs only the standard library, so `chungus` on its
    path is enough. The node sees CHUNGUS's installation at the same path, as the Ollama
    wrapper's `sys.executable` assumes; scripts/bootstrap installs it editable, so `root`
    is the checkout. A site-packages is never put first: its other packages (Starlette,
    pydantic) would shadow vLLM's. Then vLLM must run where chungus is installed; where it
    is not, vLLM stops at start (no module named chungus) and never serves unguarded."""
    if root.name in ("site-packages", "dist-packages") or str(root) in inherited.split(os.pathsep):
        return {}
    return {"PYTHONPATH": os.pathsep.join(part for part in (str(root), inherited) if part)}


def from_hub(source: str) -> bool:
    """Whether vLLM downloads `source` from Hugging Face: an id, not a local path."""
    return not source.startswith(("/", "./", "../", "~")) and not Path(source).exists()


ENGINES = (Vllm(),)
