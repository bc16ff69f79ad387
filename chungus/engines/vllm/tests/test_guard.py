"""The guard under uvicorn (vLLM's server), in front of a stand-in for vLLM's app.

vLLM itself needs CUDA; the stand-in serves the paths that vLLM's own key leaves open, and
gets the guard as vLLM gives it a `--middleware` class: `app.add_middleware(BearerGuard)`.
"""

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aiohttp
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from chungus.engines.vllm.engine import CHUNGUS_ROOT
from chungus.engines.vllm.guard import KEY_ENV, BearerGuard
from chungus.fleet.launchers.local import free_port

KEY = "replica-secret-0123456789abcdef0123456789"
# Paths of vLLM's: /v1 is what its own key guards, the others it leaves open.
PATHS = [
    ("POST", "/invocations"),
    ("POST", "/tokenize"),
    ("POST", "/pooling"),
    ("GET", "/metrics"),
    ("GET", "/load"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
]
NOT_HEALTH = [
    ("POST", "/health"),  # only GET /health is open
    ("GET", "/health/x"),
    ("GET", "/healthz"),
    ("GET", "/nowhere"),  # refused before routing: a 401, not a 404
]


def vllm_stand_in(reached: list[str], events: list[str]) -> Starlette:
    """Stands in for vLLM's FastAPI app: its paths, a realtime websocket and a lifespan."""

    async def answer(request: Request) -> JSONResponse:
        reached.append(request.url.path)
        return JSONResponse({"path": request.url.path})

    async def metrics(request: Request) -> PlainTextResponse:
        reached.append("/metrics")
        return PlainTextResponse("vllm:num_requests_running 0\n")

    async def realtime(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("session.created")
        await websocket.close()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    routes: list[BaseRoute] = [Route("/metrics", metrics), Route("/health", answer)]
    routes += [Route(path, answer, methods=[m]) for m, path in PATHS if path != "/metrics"]
    routes += [Route("/health/x", answer), WebSocketRoute("/v1/realtime", realtime)]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(BearerGuard)  # as vLLM installs a --middleware class
    return app


@dataclass
class Served:
    url: str
    reached: list[str]  # the paths the stand-in answered
    events: list[str]  # its lifespan's


@pytest.fixture(scope="module")
def vllm() -> Iterator[Served]:
    reached: list[str] = []
    events: list[str] = []
    port = free_port()
    config = uvicorn.Config(
        vllm_stand_in(reached, events), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEY_ENV, KEY)  # read once, when the server starts
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(500):
            if server.started:
                break
            thread.join(0.01)
        assert server.started, "uvicorn did not start"
    yield Served(f"http://127.0.0.1:{port}", reached, events)
    server.should_exit = True
    thread.join(10)


async def call(vllm: Served, method: str, path: str, authorization: str | None = None):
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, vllm.url + path, headers=headers, json={}) as response,
    ):
        return response.status, await response.read(), response.headers


@pytest.mark.parametrize(("method", "path"), PATHS + NOT_HEALTH)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {KEY}", "Bearer", f"Bearer {KEY}x", KEY]
)
async def test_it_refuses_every_path_without_the_right_key(vllm, method, path, authorization):
    before = len(vllm.reached)
    status, body, headers = await call(vllm, method, path, authorization)
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
    assert KEY not in body.decode()
    assert len(vllm.reached) == before  # vLLM never saw it


@pytest.mark.parametrize(("method", "path"), PATHS)
async def test_a_request_with_the_key_reaches_vllm(vllm, method, path):
    status, _, _ = await call(vllm, method, path, f"Bearer {KEY}")
    assert status == 200 and vllm.reached[-1] == path


async def test_the_scheme_is_read_as_http_reads_it_in_any_case(vllm):
    status, _, _ = await call(vllm, "POST", "/invocations", f"bearer {KEY}")
    assert status == 200


async def test_health_answers_anyone(vllm):
    status, _, _ = await call(vllm, "GET", "/health")
    assert status == 200 and vllm.reached[-1] == "/health"


async def test_a_websocket_needs_the_key_too(vllm):
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(vllm.url + "/v1/realtime")
        assert refused.value.status == 401
        headers = {"Authorization": "Bearer wrong"}
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(vllm.url + "/v1/realtime", headers=headers)
        headers = {"Authorization": f"Bearer {KEY}"}
        async with session.ws_connect(vllm.url + "/v1/realtime", headers=headers) as ws:
            assert (await ws.receive_str()) == "session.created"


async def test_a_server_without_asgis_websocket_denial_gets_a_close_instead():
    # A stand-in for an older server (uvicorn here offers the denial response): ASGI by hand.
    sent = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        raise AssertionError("never reached")

    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEY_ENV, KEY)
        guard = BearerGuard(app)
    await guard({"type": "websocket", "path": "/v1/realtime", "headers": []}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_the_lifespan_reaches_vllm(vllm):
    assert vllm.events[:1] == ["startup"]


def test_it_will_not_guard_with_an_empty_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)

    async def app(scope, receive, send):
        raise AssertionError("never reached")

    with pytest.raises(RuntimeError, match=KEY_ENV):
        BearerGuard(app)
    monkeypatch.setenv(KEY_ENV, "")
    with pytest.raises(RuntimeError, match=KEY_ENV):
        BearerGuard(app)


def test_a_python_without_chungus_dependencies_imports_it_from_the_tree_alone():
    # -I -S: no site-packages, no PYTHONPATH, as a vLLM's Python without CHUNGUS's packages.
    script = (
        f"import sys; sys.path.insert(0, {str(CHUNGUS_ROOT)!r}); before = set(sys.modules)\n"
        "import chungus.engines.vllm.guard\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(new - set(sys.stdlib_module_names)))"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['chungus']"
