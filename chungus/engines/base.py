"""The engine contract: everything CHUNGUS knows about one kind of engine, behind one class.

An engine package (`chungus/engines/<name>/`) defines its engines in `engine.py` as
ENGINES; the registry finds them there. An Engine says how the gateway speaks to
the engine (its adapter and health path), how CHUNGUS launches it for a deployment
(or that it cannot), how much memory a deployment of it needs, and how its own load
report is read. The launchers, the reconciler, the gateway, the CLI and the forms
ask the registry and never name an engine.
"""

from __future__ import annotations

import abc
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from chungus.engines.adapter import EngineAdapter
from chungus.engines.load import EngineLoad


@dataclass(frozen=True, slots=True)
class DeploymentPlan:
    """The parts of a deployment that decide how its engine runs."""

    name: str
    source: str
    engine: str
    gpus: int
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    context_length: int = 4096
    threads: int = 1
    launcher: str = ""  # "local", "slurm", "ray"; "" when the caller does not say

    @property
    def remote(self) -> bool:
        """Whether the engine runs on another machine than CHUNGUS (Slurm, Ray)."""
        return self.launcher not in ("", "local")


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """What to run: an engine command line and how to tell it is healthy.

    An engine on another node (Slurm, Ray) listens on the network, so it is started with
    a per-replica `api_key` (in `env`, never on the command line, which `ps` shows): the
    launcher's health check and the data plane send it as a bearer token. Empty for an
    engine on this host's loopback.

    A job (port 0) runs to completion instead: no port, no health check; it runs in `cwd`
    and its output goes to `log_path` (both in its job directory)."""

    name: str
    command: tuple[str, ...]
    port: int = 0
    health_path: str = "/health"
    env: dict[str, str] = field(default_factory=dict, repr=False)  # may hold api_key
    gpus: tuple[int, ...] = ()
    cwd: str = ""
    log_path: str = ""
    api_key: str = field(default="", repr=False)
    # Variables of the environment it starts in that it needs beyond the allow-list
    # (chungus.lib.child_env), e.g. HF_TOKEN for an engine that downloads from the Hub.
    pass_env: tuple[str, ...] = ()

    @property
    def is_job(self) -> bool:
        return self.port == 0

    def with_api_key(self, key: str) -> LaunchSpec:
        """This spec with `key` in place of its own secret (an adopted engine keeps the one
        it was started with); a spec without a secret is returned as it is."""
        if not self.api_key or not key:
            return self
        env = {k: key if v == self.api_key else v for k, v in self.env.items()}
        return replace(self, env=env, api_key=key)


def replica_secret() -> str:
    """A fresh secret for one engine replica that only CHUNGUS knows."""
    return secrets.token_urlsafe(32)


NO_CHAT = "none"  # Backend.chat_format of a model with no turn format: chat requests get a 400


@dataclass(frozen=True, slots=True)
class TurnFormat:
    """The turn format a deployment's model is prompted in (NO_CHAT: none), and why."""

    name: str
    reason: str

    @property
    def chat(self) -> bool:
        return self.name != NO_CHAT


class NotLaunchable(ValueError):
    """CHUNGUS does not launch this engine; it can only be registered as a backend."""


class Engine(abc.ABC):
    """One kind of engine. Subclasses set the class attributes and override what applies."""

    name: ClassVar[str]  # stored in Backend.engine and Deployment.engine
    label: ClassVar[str]  # how people read it ("llama.cpp")
    rank: ClassVar[int] = 100  # where it is listed in choices, lowest first
    launchable: ClassVar[bool] = False  # CHUNGUS can run it for a deployment
    fetches_model: ClassVar[bool] = False  # may download its model before it answers
    spans_gpus: ClassVar[bool] = False  # one replica may take several GPUs (tensor x pipeline)
    load_paths: ClassVar[tuple[str, ...]] = ()  # GETs below the root that report its load
    adapter_class: ClassVar[type[EngineAdapter]]  # how the gateway speaks to it

    def __init__(self) -> None:
        self.adapter: EngineAdapter = self.adapter_class()  # adapters hold no state

    @property
    def health_path(self) -> str:
        """The GET below the server root that answers while the engine is up."""
        return self.adapter.health_path

    def backend_url(self, address: str) -> str:
        """The backend URL to route to for an engine answering at `address` (http://host:port)."""
        return address if self.adapter.paths_from_root else f"{address}/v1"

    def plan_problem(self, plan: DeploymentPlan) -> str:
        """Why this engine cannot serve the deployment as planned, or '' when it can."""
        return ""

    def launch_spec(
        self, plan: DeploymentPlan, home: Path, name: str, port: int, gpus: tuple[int, ...]
    ) -> LaunchSpec:
        """The command for one replica of `plan`, listening on `port`, pinned to `gpus`.

        Raises NotLaunchable for engines CHUNGUS does not run, FileNotFoundError or
        ValueError when this plan cannot run (a missing model file, a bad name)."""
        raise NotLaunchable(
            f"CHUNGUS cannot launch {self.name} engines yet; register them as backends"
        )

    def estimate_memory_mb(self, source: str, context_length: int, home: Path) -> tuple[int, str]:
        """Memory per GPU for a deployment of `source`, with how it was estimated (0: unknown)."""
        return 0, f"not estimated: give --memory-mb (CHUNGUS does not launch {self.name})"

    def turn_format(self, source: str, home: Path) -> TurnFormat | None:
        """The turn format CHUNGUS starts a deployment of `source` with; None when the engine
        decides for itself (or the model cannot be read yet)."""
        return None

    def parse_load(self, reports: Mapping[str, str | None]) -> EngineLoad:
        """Its load from the bodies of `load_paths` (None where a GET failed); never raises."""
        return EngineLoad()
