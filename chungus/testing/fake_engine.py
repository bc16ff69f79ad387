"""A fake OpenAI-compatible engine for failures a real one cannot produce on demand.

It hangs mid-stream, dies mid-stream, answers garbage or 500s, depending on
the model name it is asked for. Everything else in the tests runs against a
real llama-server; this stands in only where a real engine cannot misbehave
on cue. Run: python -m chungus.testing.fake_engine --port 8123
"""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson
from aiohttp import web


def _chunk(content: str | None, finish: str | None = None) -> bytes:
    delta = {"content": content} if content is not None else {}
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


def _completion(text: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


async def chat(request: web.Request) -> web.StreamResponse:
    STATS["running"] += 1
    try:
        return await _answer(request)
    finally:
        STATS["running"] -= 1


async def _answer(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    behaviour = body.get("model", "")
    if behaviour == "error500":
        return web.json_response(
            {"error": {"message": "engine exploded", "type": "server_error"}}, status=500
        )
    if behaviour == "garbage":
        return web.Response(body=b"<html>not json", status=500, content_type="text/html")
    if behaviour == "slow":
        await _generate_until_gone(request, seconds=30)
    if not body.get("stream"):
        if behaviour == "hang":
            await asyncio.sleep(3600)
        return web.json_response(_completion("fake answer"))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(_chunk("Hel"))
    await response.write(_chunk("lo"))
    if behaviour == "hang":
        await asyncio.sleep(3600)
    if behaviour == "die":
        assert request.transport is not None
        request.transport.abort()  # the engine process dies mid-answer
        return response
    await response.write(_chunk(None, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        final = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "fake",
            "choices": [],
            "usage": usage,
        }
        await response.write(b"data: " + orjson.dumps(final) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response


STATS = {"abandoned": 0, "running": 0}  # callers that hung up; requests being answered


async def _generate_until_gone(request: web.Request, seconds: float) -> None:
    """Pretend to generate for a while, noting when the caller hangs up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if request.transport is None or request.transport.is_closing():
            STATS["abandoned"] += 1
            raise asyncio.CancelledError
        await asyncio.sleep(0.02)


async def stats(request: web.Request) -> web.Response:
    """What the fake has seen, as JSON: a load report for the test engine package too."""
    return web.json_response(STATS)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    app.router.add_get("/stats", stats)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
