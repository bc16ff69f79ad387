"""Declaring, stopping and starting deployments, and what the reconciler makes of the rows."""

from __future__ import annotations

import asyncio
import io
import struct
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from chungus.core.models import ConfigVersion
from chungus.fleet.lifecycle import declare as deploying
from chungus.fleet.lifecycle import deployment_rows as store
from chungus.fleet.lifecycle.declare import DeployError, Spec, UnknownDeployment
from chungus.fleet.lifecycle.handlers import pending
from chungus.fleet.lifecycle.handlers.context import Context
from chungus.fleet.lifecycle.reconciler import Reconciler
from chungus.fleet.models import Deployment, Model
from chungus.fleet.models import DeploymentState as S

pytestmark = pytest.mark.django_db

MISSING_GGUF = "/nonexistent/model.gguf"


def deploy(tmp_path: Path, name: str = "small", **fields: Any) -> Deployment:
    fields.setdefault("source", MISSING_GGUF)
    deployment, _ = deploying.deploy(Spec(name, **fields), tmp_path)
    return deployment


def the_reconciler_starts(name: str) -> bool:
    """Whether the reconciler's next tick would start `name` (a row desired running):
    the real dispatch, with the pending handler only recording instead of launching."""
    [row] = [d for d in store.deployments() if d["name"] == name]
    assert row["desired"] == "running"
    started: list[str] = []

    async def record(ctx: Context, d: dict[str, Any]) -> None:
        started.append(d["name"])

    async def nothing() -> None:
        return None

    async def warm(name: str) -> int:
        return 200

    with patch.object(pending, "handle", record):
        asyncio.run(Reconciler({}, Path("."), list, nothing, warm).reconcile(row))
    return started == [name]


def test_deploy_creates_the_model_and_a_pending_deployment_the_reconciler_starts(tmp_path):
    row = deploy(tmp_path, replicas=2, context_length=8192, priority=5, idle_timeout_s=600)
    assert Model.objects.filter(name="small").exists()
    assert (row.desired, row.state, row.state_reason) == ("running", S.PENDING, deploying.WAITING)
    assert (row.replicas, row.context_length, row.priority, row.idle_timeout_s) == (2, 8192, 5, 600)
    assert row.gpus_per_replica == 0 and row.wake_requested_at is None
    assert the_reconciler_starts("small")


def test_the_memory_is_estimated_unless_given(tmp_path):
    guessed = deploy(tmp_path, "guessed")
    assert guessed.memory_mb == 0 and "does not exist" in guessed.memory_note
    given = deploy(tmp_path, "given", memory_mb=2048)
    assert (given.memory_mb, given.memory_note) == (2048, "given with memory_mb")
    row, _ = deploying.deploy(Spec("cli", memory_mb=1), tmp_path, memory_given_as="--memory-mb")
    assert row.memory_note == "given with --memory-mb"


def test_a_redeploy_replaces_the_settings_and_clears_a_failure(tmp_path):
    deploy(tmp_path, replicas=1)
    Deployment.objects.filter(name="small").update(
        state=S.FAILED, state_reason="crashed 3 times", desired="stopped",
        wake_requested_at=timezone.now(),
    )  # fmt: skip
    row, created = deploying.deploy(Spec("small", source=MISSING_GGUF, replicas=3), tmp_path)
    assert not created and row.replicas == 3 and Deployment.objects.count() == 1
    assert (row.desired, row.state, row.wake_requested_at) == ("running", S.PENDING, None)


def test_a_vllm_replica_takes_tensor_times_pipeline_gpus(tmp_path):
    row = deploy(tmp_path, engine="vllm", source="org/m", tensor_parallel=2, pipeline_parallel=2)
    assert row.gpus_per_replica == 4 and row.memory_note.startswith("not estimated")


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        (
            {"engine": "vllm", "gpus_per_replica": 2, "tensor_parallel": 4},
            "gpus_per_replica",
            "--gpus 2 does not match",
        ),
        ({"tensor_parallel": 2}, "tensor_parallel", "for vLLM deployments"),
        ({"engine": "openai"}, "engine", "not 'openai'"),
        ({"launcher": "kubernetes"}, "launcher", "not 'kubernetes'"),
        ({"replicas": 0}, "replicas", "between 1 and 32767, not 0"),
        ({"replicas": 40_000}, "replicas", "between 1 and 32767"),
        ({"idle_timeout_s": -5}, "idle_timeout_s", "not -5"),
        ({"memory_mb": -1}, "memory_mb", "between 0 and"),
        ({"priority": 99_999}, "priority", "between -32768 and 32767"),
        ({"source": " "}, "source", "1 to 500 characters"),
        ({"source": "/models/a\x00.gguf"}, "source", "NUL"),  # PostgreSQL cannot store it
    ],
)
def test_it_refuses_what_cannot_run_and_names_the_field(tmp_path, fields, param, words):
    with pytest.raises(DeployError, match=words) as caught:
        deploy(tmp_path, **fields)
    assert caught.value.param == param
    assert not Deployment.objects.exists() and not Model.objects.exists()


def test_a_name_with_nul_is_refused_and_never_found(tmp_path):
    with pytest.raises(DeployError, match="NUL") as caught:
        deploy(tmp_path, "small\x00")
    assert caught.value.param == "name"
    for action in (deploying.stop, deploying.start):
        with pytest.raises(UnknownDeployment):
            action("small\x00")  # not even looked up: PostgreSQL refuses to compare it


def gguf_claiming(path: Path, layers: int) -> Path:
    """A GGUF header (no tensors) whose model claims `layers` layers of 8 KV heads of 128."""

    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    pairs = string("general.architecture") + struct.pack("<I", 8) + string("llama")
    for key, value in [("block_count", layers), ("attention.head_count_kv", 8),
                       ("attention.head_count", 8), ("attention.key_length", 128),
                       ("embedding_length", 1024), ("context_length", 4096)]:  # fmt: skip
        pairs += string(f"llama.{key}") + struct.pack("<IQ", 10, value)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 7) + pairs)
    return path


def test_an_estimate_past_what_the_database_holds_is_refused(tmp_path):
    gguf = gguf_claiming(tmp_path / "huge.gguf", layers=10**12)
    with pytest.raises(DeployError, match="lower context_length or give memory_mb") as caught:
        deploy(tmp_path, source=str(gguf))
    assert caught.value.param == "context_length"
    assert not Deployment.objects.exists()
    assert deploy(tmp_path, source=str(gguf), memory_mb=80_000).memory_mb == 80_000


def test_an_ollama_deployment_needs_a_name_ollama_accepts(tmp_path):
    with pytest.raises(DeployError, match="not a valid Ollama model name") as caught:
        deploy(tmp_path, "bad name!", engine="ollama", source="llama3.2:1b")
    assert caught.value.param == "name"
    assert deploy(tmp_path, "chat:1b", engine="ollama", source="llama3.2:1b").engine == "ollama"


def test_stop_asks_the_reconciler_to_stop_it_and_tells_the_gateway(tmp_path):
    deploy(tmp_path)
    before = ConfigVersion.current()
    assert deploying.stop("small").desired == "stopped"
    assert Deployment.objects.get(name="small").desired == "stopped"
    assert ConfigVersion.current() > before  # the gateway no longer wakes it on a request


@pytest.mark.parametrize("action", [deploying.stop, deploying.start])
def test_an_unknown_name_is_refused(db, action):
    with pytest.raises(UnknownDeployment, match="no deployment named 'ghost'"):
        action("ghost")


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (S.STOPPED, "stopped by the operator"),
        (S.STOPPED, "idle for 600 s: unloaded; the next request starts it again"),
        (S.FAILED, "crashed 3 times: exit 1"),
    ],
)
def test_start_makes_a_stopped_or_failed_deployment_pending_again(tmp_path, state, reason):
    deploy(tmp_path)
    Deployment.objects.filter(name="small").update(
        desired="stopped", state=state, state_reason=reason
    )
    Deployment.objects.filter(name="small").update(desired="running")
    assert not the_reconciler_starts("small")  # asleep: it would wait for a request

    row = deploying.start("small")
    assert (row.desired, row.state, row.state_reason) == ("running", S.PENDING, deploying.WAITING)
    assert row.wake_requested_at is None
    assert the_reconciler_starts("small")


def test_start_while_draining_wakes_it_once_the_drain_ends(tmp_path):
    deploy(tmp_path)
    Deployment.objects.filter(name="small").update(
        desired="stopped", state=S.DRAINING, state_reason="stopped by the operator; draining"
    )
    row = deploying.start("small")
    assert (row.desired, row.state) == ("running", S.DRAINING)  # the drain goes on
    assert row.wake_requested_at is not None
    # The drain ends as the reconciler writes it (keeping the wake): it starts again.
    store.set_state("small", S.STOPPED, "stopped by the operator (drained)")
    assert the_reconciler_starts("small")


def test_a_redeploy_while_draining_wakes_it_once_the_drain_ends(tmp_path):
    deploy(tmp_path)
    idle = "idle for 60 s: unloaded; the next request starts it again; draining"
    Deployment.objects.filter(name="small").update(state=S.DRAINING, state_reason=idle)
    row, created = deploying.deploy(Spec("small", memory_mb=100, context_length=2048), tmp_path)
    assert not created and row.state == S.DRAINING and row.wake_requested_at is not None
    store.set_state("small", S.STOPPED, "idle for 60 s: unloaded (drained in 1.0 s)")
    assert the_reconciler_starts("small")


def test_start_leaves_a_running_deployment_as_it_is(tmp_path):
    deploy(tmp_path)
    Deployment.objects.filter(name="small").update(state=S.READY, state_reason="1 replica(s) ready")
    deploying.stop("small")
    row = deploying.start("small")  # changed its mind before the reconciler acted
    assert (row.desired, row.state, row.state_reason) == ("running", S.READY, "1 replica(s) ready")
    assert row.wake_requested_at is None


def test_the_commands_say_what_they_did_as_before(tmp_path):
    out = io.StringIO()
    call_command("deploy", "small", "--source", MISSING_GGUF, "--memory-mb", "64", stdout=out)
    call_command("deploy", "small", "--source", MISSING_GGUF, "--memory-mb", "64", stdout=out)
    call_command("deployments", "stop", "small", stdout=out)
    assert out.getvalue().splitlines() == [
        "Deployed 'small' (given with --memory-mb); `chungus deployments list` shows its state.",
        "Redeployed 'small' (given with --memory-mb); `chungus deployments list` shows its state.",
        "Stopping 'small'.",
    ]
    with pytest.raises(CommandError, match=r"^no deployment named 'ghost'$"):
        call_command("deployments", "stop", "ghost")
