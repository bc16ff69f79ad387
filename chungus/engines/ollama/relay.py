"""An authenticating relay in front of an Ollama on another node (Slurm, Ray).

Ollama has no authentication of its own, so a replica that CHUNGUS reaches over the
network keeps `ollama serve` on the node's loopback and puts this relay on the
network port instead: every request must carry `Authorization: Bearer KEY` (the
replica's secret, which only CHUNGUS knows); anything else gets a 401 and never
reaches Ollama. Bodies stream both ways, so pulls and generations are not buffered.

The replica wrapper (run.py) runs it on a thread of its own next to `ollama serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import socket
import threading

import aiohttp
from aiohttp import web

# Hop-by-hop headers (RFC 9110 7.6.1), and what the relay sets itself.
_DROP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "authorization", "content-length",
}  # fmt: skip
_UNAUTHORIZED = b'{"error":"unauthorized: this Ollama is reachable through CHUNGUS only"}'


def loopback_port() -> int:
    """A TCP port free on this node's loopback right now, for `ollama serve` behind the relay."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def authorized(header: str | None, key: str) -> bool:
    """Whether an Authorization header carries the bearer `key` (compared in constant time)."""
    scheme, _, token = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())


def relay_app(upstream: str, key: str) -> web.Application:
    """The relay: check the bearer key, then pass the request to `upstream` (http://host:port)."""
    session: dict[str, aiohttp.ClientSession] = {}

    async def open_session(app: web.Application) -> None:
        # No total timeout: a pull or a long generation streams for as long as it takes.
        session["s"] = aiohttp.ClientSession(auto_decompress=False)

    async def close_session(app: web.Application) -> None:
        await session["s"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        if not authorized(request.headers.get("Authorization"), key):
            return web.Response(
                status=401,
                body=_UNAUTHORIZED,
                content_type="application/json",
                headers={"WWW-Authenticate": "Bearer"},
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        body = request.content if request.body_exists else None
        url = upstream + request.rel_url.raw_path_qs
        try:
            answer = await session["s"].request(request.method, url, headers=headers, data=body)
        except aiohttp.ClientError as exc:  # Ollama is not up (yet, or any more)
            message = f'{{"error":"ollama is not reachable: {type(exc).__name__}"}}'
            return web.Response(status=502, text=message, content_type="application/json")
        try:
            response = web.StreamResponse(
                status=answer.status,
                headers={k: v for k, v in answer.headers.items() if k.lower() not in _DROP},
            )
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            answer.close()  # a client gone mid-stream: closing stops Ollama generating

    app = web.Application(client_max_size=0)
    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


class Relay:
    """The relay on a thread with its own event loop: `start()`, then `stop()`."""

    def __init__(self, host: str, port: int, upstream: str, key: str) -> None:
        self.host, self.port, self.upstream, self.key = host, port, upstream, key
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    def start(self) -> None:
        """Listen on host:port; raises OSError when the port is taken."""
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        future.result(timeout=30)

    async def _start(self) -> None:
        self.runner = web.AppRunner(relay_app(self.upstream, self.key), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, self.port).start()

    def stop(self) -> None:
        if self.runner is not None:
            future = asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop)
            with contextlib.suppress(TimeoutError, RuntimeError):  # ending anyway
                future.result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
