"""Fake OpenAI-compatible engine for benchmarks: instant answers, so only gateway overhead shows.

It stands in for vLLM or llama-server and generates nothing: every reply is
built from fixed strings. Run it as `python bench/fake_upstream.py --port P`.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson
from aiohttp import web

CHUNKS_KEY = web.AppKey("chunks", int)
CONTENT = "The quick brown fox jumps over the lazy dog."


def completion(model: str, chunks: int) -> bytes:
    """Build a non-stream chat.completion body with usage."""
    return orjson.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": CONTENT},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": chunks,
                "total_tokens": 10 + chunks,
            },
        }
    )


def stream_text(chunks: int) -> str:
    """The text a streamed answer of N chunks spells out."""
    return "".join(f"tok{i} " for i in range(chunks))


def sse(payload: dict[str, object]) -> bytes:
    """Frame one JSON payload as a server-sent event."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def stream_events(model: str, chunks: int, include_usage: bool) -> list[bytes]:
    """SSE events of a streamed answer: N content chunks, a finish chunk, usage, [DONE]."""
    base: dict[str, object] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    events = []
    for i in range(chunks):
        delta = {"role": "assistant", "content": f"tok{i} "} if i == 0 else {"content": f"tok{i} "}
        events.append(
            sse(base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        )
    events.append(sse(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    if include_usage:
        usage = {"prompt_tokens": 10, "completion_tokens": chunks, "total_tokens": 10 + chunks}
        events.append(sse(base | {"choices": [], "usage": usage}))
    events.append(b"data: [DONE]\n\n")
    return events


async def chat(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions: a fixed answer, streamed when asked."""
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return web.json_response(
            {"error": {"message": "bad json", "type": "invalid_request_error"}}, status=400
        )
    model = str(body.get("model", "fake"))
    chunks = request.app[CHUNKS_KEY]
    if not body.get("stream"):
        return web.Response(body=completion(model, chunks), content_type="application/json")
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    # One write per event, as an engine flushes one token at a time.
    for event in stream_events(model, chunks, include_usage):
        await response.write(event)
    await response.write_eof()
    return response


async def models(request: web.Request) -> web.Response:
    """GET /v1/models: the single fake model."""
    data = {
        "object": "list",
        "data": [{"id": "fake", "object": "model", "created": 0, "owned_by": "bench"}],
    }
    return web.json_response(data)


async def health(request: web.Request) -> web.Response:
    """GET /health: always healthy."""
    return web.json_response({"status": "ok"})


def make_app(chunks: int) -> web.Application:
    """Build the fake engine's aiohttp application."""
    app = web.Application()
    app[CHUNKS_KEY] = chunks
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    """Serve the fake engine until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per streamed answer")
    args = parser.parse_args()
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    web.run_app(
        make_app(args.chunks),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        loop=loop,
    )


if __name__ == "__main__":
    main()
