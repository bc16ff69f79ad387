"""Adding an engine is adding its package: a test's own package (tests/fake/) registered at run
time is launched through a deployment plan on the local launcher, routed to by the gateway
with a real request, and its load is read, with no other package told about it."""

import asyncio
import contextlib
from io import StringIO

import aiohttp
import httpx
import pytest
import uvicorn
from django.core.management import call_command
from starlette.applications import Starlette

from chungus.accounts.keyinfo import KeyInfo
from chungus.accounts.secrets import hash_secret
from chungus.core.routes import BackendInfo, ModelInfo
from chungus.engines import registry
from chungus.engines.base import DeploymentPlan
from chungus.engines.load import EngineLoad
from chungus.engines.tests.fake.engine import FakeEngine
from chungus.fleet.launchers.local import LocalLauncher, free_port
from chungus.fleet.lifecycle import declare as deploying
from chungus.fleet.lifecycle.plans import launch_spec
from chungus.fleet.lifecycle.supervisor import Supervisor
from chungus.fleet.models import Backend, Deployment
from chungus.gateway.app import data_plane_routes
from chungus.gateway.ratelimit import RateLimiter
from chungus.gateway.routing.admission import Admission
from chungus.gateway.routing.health import HealthMonitor
from chungus.gateway.service import Gateway, GatewayOptions
from chungus.gateway.snapshot import Snapshot, SnapshotStore
from chungus.gateway.upstream import Upstream
from chungus.gateway.windows import LocalWindows
from chungus.telemetry.requestlog import LogBuffer

SECRET = "ck-fake-engine-test"


@pytest.fixture
def fake():
    with registry.registered(FakeEngine()) as engine:
        yield engine


@contextlib.asynccontextmanager
async def launched(plan, home):
    """The plan's engine under a supervisor on the local launcher; yields its address."""
    ready = asyncio.Event()
    address = []

    async def on_ready(url):
        address.append(url)
        ready.set()

    supervisor = Supervisor(LocalLauncher(home / "logs"), launch_spec(plan, home, 0, ()), on_ready)
    task = asyncio.create_task(supervisor.run())
    try:
        await asyncio.wait_for(ready.wait(), 30)
        yield address[0]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@contextlib.asynccontextmanager
async def gateway_serving(snapshot):
    """The data plane over `snapshot`, on a real port; yields its URL and its admission."""
    admission = Admission()
    gateway = Gateway(
        SnapshotStore(dict, dict, snapshot),
        RateLimiter(LocalWindows()),
        admission,
        Upstream(connect_timeout=5, read_timeout=30),
        LogBuffer(),
        registry.adapters(),
        GatewayOptions(),
    )
    await gateway.upstream.start()
    app = Starlette(routes=data_plane_routes(gateway, lambda: {"ready": True}, list))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}", gateway
    finally:
        server.should_exit = True
        await serving
        await gateway.upstream.close()


async def test_it_is_launched_routed_to_and_its_load_is_read(fake, tmp_path):
    plan = DeploymentPlan("fake-model", "nothing to load", "fake", 0, launcher="local")
    async with launched(plan, tmp_path) as address:
        backend = BackendInfo(id=1, url=fake.backend_url(address), engine="fake")
        snapshot = Snapshot(
            version=1,
            keys={hash_secret(SECRET): KeyInfo(id=1, name="k")},
            models={"fake-model": ModelInfo("fake-model", (backend,))},
        )
        async with gateway_serving(snapshot) as (url, gateway):
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.post(
                    f"{url}/v1/chat/completions",
                    headers={"Authorization": f"Bearer {SECRET}"},
                    json={"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]},
                )
            assert answer.status_code == 200, answer.text
            assert answer.json()["choices"][0]["message"]["content"] == "fake answer"
            monitor = HealthMonitor(gateway.store, gateway.admission, registry.by_name())
            async with aiohttp.ClientSession() as session:
                await monitor.check(session, backend)
            assert gateway.admission.engine_load[1] == EngineLoad(running=0, waiting=0)
            assert gateway.admission.breaker(1).state.value == "healthy"


@pytest.mark.django_db
def test_the_cli_and_deployments_offer_it(fake, tmp_path, settings):
    settings.CHUNGUS_HOME = tmp_path
    out = StringIO()
    call_command("deploy", "fake-model", "--engine", "fake", "--source", "x", stdout=out)
    deployment = Deployment.objects.get(name="fake-model")
    assert deployment.engine == "fake" and deployment.memory_note == "a fake needs next to nothing"
    call_command("models", "add", "other", "--url", "http://127.0.0.1:9", "--engine", "fake")
    backend = Backend.objects.get(model__name="other")
    backend.full_clean()  # "fake" is one of the field's choices now
    assert backend.get_engine_display() == "fake OpenAI server (tests only)"
    assert "fake" in deploying.engine_names()


def test_without_it_nothing_knows_the_name():
    assert registry.get("fake") is None and "fake" not in deploying.engine_names()
