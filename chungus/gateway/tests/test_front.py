"""The front door: completion POSTs go to their handler, everything else to the app behind."""

from __future__ import annotations

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chungus.gateway.app import _error
from chungus.gateway.front import Front
from chungus.lib.openai_errors import NotFound


async def behind(scope: Scope, receive: Receive, send: Send) -> None:
    await Response(b"behind", 200)(scope, receive, send)


async def broken(request: Request) -> Response:
    raise RuntimeError("a bug")


async def missing(request: Request) -> Response:
    raise NotFound("No such thing.", code="nothing")


def client() -> httpx.AsyncClient:
    app = Front({"/v1/broken": broken, "/v1/missing": missing}, behind, _error)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_handlers_bug_is_a_500_in_openais_envelope():
    async with client() as http:
        response = await http.post("/v1/broken", content=b"{}")
    assert response.status_code == 500
    assert orjson.loads(response.content)["error"]["type"] == "api_error"


async def test_an_api_error_is_answered_with_its_status_and_code():
    async with client() as http:
        response = await http.post("/v1/missing", content=b"{}")
    assert response.status_code == 404
    assert orjson.loads(response.content)["error"]["code"] == "nothing"


async def test_other_methods_and_paths_go_to_the_app_behind():
    async with client() as http:
        assert (await http.get("/v1/broken")).content == b"behind"
        assert (await http.post("/v1/other")).content == b"behind"
