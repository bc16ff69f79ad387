"""A fake OpenAI-compatible engine that demands a bearer key and records what it was sent.

A real engine with a key (llama-server --api-key) says only yes or no; this one also
tells a test which Authorization header each request carried (GET /_seen, which needs
no key), so a test can check that CHUNGUS sends a backend's key on every call it makes:
chat, health checks, load scrapes. Run: python -m chungus.testing.recording_engine
--port N --key KEY
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler

from chungus.fleet.launchers.local import free_port


def make_app(key: str) -> web.Application:
    seen: list[dict[str, str]] = []

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/_seen":
            return await handler(request)
        auth = request.headers.get("Authorization", "")
        seen.append({"method": request.method, "path": request.path, "authorization": auth})
        if auth != f"Bearer {key}":
            return web.json_response({"error": {"message": "Invalid API Key"}}, status=401)
        return await handler(request)

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(
            {
                "id": "chatcmpl-recorded",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text="llamacpp:requests_processing 0\n")

    async def slots(request: web.Request) -> web.Response:
        return web.json_response([])

    async def recorded(request: web.Request) -> web.Response:
        return web.json_response(seen)

    app = web.Application(middlewares=[guard])
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/slots", slots)
    app.router.add_get("/_seen", recorded)
    return app


@contextlib.asynccontextmanager
async def serving(key: str) -> AsyncIterator[str]:
    """The engine in this process, on a free loopback port; yields its /v1 URL."""
    runner = web.AppRunner(make_app(key))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    web.run_app(make_app(args.key), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
