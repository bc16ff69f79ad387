"""A fake Ollama that replays recorded responses; no model runs behind it.

No Ollama server can run where the tests run, so this serves the recordings in
`recordings/ollama/` (real responses from Ollama's documentation; see the
README there) on Ollama's own paths, echoing the requested model name. Asking
for the model `missing` gets Ollama's 404; `broken` gets a stream that fails
midway. GET /_requests lists the request bodies received, newest last, so a
test can check what reached the "engine".
Run: python -m chungus.testing.fake_ollama --port 11434
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

RECORDINGS = Path(__file__).resolve().parent / "recordings" / "ollama"
REQUESTS: list[dict[str, Any]] = []  # the last bodies received, newest last
_KEEP = 50


def recording(name: str) -> bytes:
    return (RECORDINGS / name).read_bytes()


def _as_model(line: bytes, model: str) -> bytes:
    data = orjson.loads(line)
    if "model" in data:
        data["model"] = model
    return orjson.dumps(data)


async def _infer(request: web.Request, name: str) -> web.StreamResponse:
    body = await request.json()
    REQUESTS.append(body)
    del REQUESTS[:-_KEEP]
    model = str(body.get("model", ""))
    if model == "missing":
        return web.Response(
            body=recording("error_model_not_found.json"),
            status=404,
            content_type="application/json",
        )
    if not body.get("stream", True):  # Ollama streams unless told not to
        recorded = "chat_tools.json" if name == "chat" and body.get("tools") else f"{name}.json"
        return web.Response(
            body=_as_model(recording(recorded), model), content_type="application/json"
        )
    recorded = f"{name}_stream_error.ndjson" if model == "broken" else f"{name}_stream.ndjson"
    if not (RECORDINGS / recorded).exists():
        recorded = f"{name}_stream.ndjson"
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    for line in recording(recorded).splitlines():
        await response.write(_as_model(line, model) + b"\n")
    await response.write_eof()
    return response


async def chat(request: web.Request) -> web.StreamResponse:
    return await _infer(request, "chat")


async def generate(request: web.Request) -> web.StreamResponse:
    return await _infer(request, "generate")


async def root(request: web.Request) -> web.Response:
    return web.Response(text="Ollama is running")


def _serve(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=recording(name), content_type="application/json")

    return handler


async def requests_seen(request: web.Request) -> web.Response:
    return web.json_response(REQUESTS)


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_get("/api/version", _serve("version.json"))
    app.router.add_get("/api/tags", _serve("tags.json"))
    app.router.add_get("/api/ps", _serve("ps.json"))
    app.router.add_post("/api/chat", chat)
    app.router.add_post("/api/generate", generate)
    app.router.add_get("/_requests", requests_seen)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
