"""Floor proxy for benchmarks: the least work any gateway must do, as a bare ASGI app under uvicorn.

It forwards each request body to the upstream with one pooled aiohttp session
and streams the answer back, cancelling the upstream call when the client goes
away (uvicorn drops writes after a disconnect, so a bare app must watch for
`http.disconnect` itself). No auth, no routing, no logging: a gateway's
overhead is measured against this. Run as
`python bench/floor_proxy.py --port P --upstream http://127.0.0.1:U`.

`--client http1` forwards with CHUNGUS's own engine client (chungus.lib.http1) instead of
aiohttp: the floor of a gateway built on that client, to see how much of CHUNGUS's cost
against the aiohttp floor is the client and how much the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
import uvicorn

from chungus.lib import http1

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FORWARDED = (b"content-type", b"authorization", b"accept")


class FloorProxy:
    """ASGI callable that forwards every HTTP request to one upstream."""

    def __init__(self, upstream: str, client: str = "aiohttp") -> None:
        self.upstream = upstream.rstrip("/")
        self.client = client
        self.session: aiohttp.ClientSession | None = None
        self.pool = http1.Pool(connect_timeout=10, read_timeout=300)

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http":
            await self.http(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """Open the pooled session at startup and close it at shutdown."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
                self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope: Message, receive: Receive, send: Send) -> None:
        """Forward one request; stop the upstream call if the client disconnects."""
        body = await read_body(receive)
        proxy = asyncio.create_task(self.forward(scope, body, send))
        watcher = asyncio.create_task(wait_for_disconnect(receive))
        await asyncio.wait((proxy, watcher), return_when=asyncio.FIRST_COMPLETED)
        watcher.cancel()
        if not proxy.done():
            proxy.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await proxy

    async def forward(self, scope: Message, body: bytes, send: Send) -> None:
        """Send the request upstream and relay status, content type and body."""
        assert self.session is not None
        url = self.upstream + scope["path"]
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        headers = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in FORWARDED
        }
        if self.client == "http1":
            await self.forward_http1(url, body, headers, send)
            return
        try:
            async with self.session.request(
                scope["method"], url, data=body, headers=headers
            ) as upstream:
                content_type = upstream.headers.get("Content-Type", "application/json").encode(
                    "latin-1"
                )
                if content_type.startswith(b"text/event-stream"):
                    await send_start(send, upstream.status, content_type, None)
                    async for chunk in upstream.content.iter_any():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b""})
                else:
                    data = await upstream.read()
                    await send_start(send, upstream.status, content_type, len(data))
                    await send({"type": "http.response.body", "body": data})
        except aiohttp.ClientError as exc:
            data = (
                b'{"error":{"message":"upstream: '
                + type(exc).__name__.encode()
                + b'","type":"upstream_error"}}'
            )
            await send_start(send, 502, b"application/json", len(data))
            await send({"type": "http.response.body", "body": data})

    async def forward_http1(
        self, url: str, body: bytes, headers: dict[str, str], send: Send
    ) -> None:
        """forward's work with chungus.lib.http1 (POSTs only: all the benchmark sends)."""
        try:
            upstream = await self.pool.post(url, body, headers)
            content_type = upstream.headers.get("content-type", "application/json").encode()
            if content_type.startswith(b"text/event-stream"):
                await send_start(send, upstream.status, content_type, None)
                async for chunk in upstream.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            else:
                data = await upstream.read()
                await send_start(send, upstream.status, content_type, len(data))
                await send({"type": "http.response.body", "body": data})
            upstream.release()
        except http1.HTTPError as exc:
            data = b'{"error":{"message":"upstream: ' + type(exc).__name__.encode() + b'"}}'
            await send_start(send, 502, b"application/json", len(data))
            await send({"type": "http.response.body", "body": data})


async def send_start(send: Send, status: int, content_type: bytes, length: int | None) -> None:
    """Send the response head."""
    headers = [(b"content-type", content_type)]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def read_body(receive: Receive) -> bytes:
    """Read the whole request body."""
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def wait_for_disconnect(receive: Receive) -> None:
    """Return when the client disconnects."""
    while (await receive())["type"] != "http.disconnect":
        pass


def main() -> None:
    """Serve the floor proxy with one uvicorn worker."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--upstream", required=True, help="upstream base URL, e.g. http://127.0.0.1:8001"
    )
    parser.add_argument(
        "--client", choices=("aiohttp", "http1"), default="aiohttp",
        help="the upstream client: aiohttp (the floor) or CHUNGUS's own chungus.lib.http1",
    )  # fmt: skip
    args = parser.parse_args()
    uvicorn.run(
        FloorProxy(args.upstream, args.client),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
