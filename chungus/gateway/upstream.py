"""Calls to engines through one pooled aiohttp session per process."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from chungus.lib.openai_errors import APIError, BadGateway, GatewayTimeout, ServiceUnavailable

# Engines such as llama-server close a kept-alive connection after a stream
# without saying so; the next request on it fails before anything was
# generated, so it is safe to send it again on a fresh connection.
_STALE_CONNECTION = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


class Upstream:
    """Sends requests to backends and maps transport failures to gateway errors."""

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_read=read_timeout
        )
        self.session: aiohttp.ClientSession | None = None
        self.fresh: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            timeout=self.timeout,
            auto_decompress=False,
        )
        self.fresh = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            timeout=self.timeout,
            auto_decompress=False,
        )

    async def close(self) -> None:
        for session in (self.session, self.fresh):
            if session is not None:
                await session.close()

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> aiohttp.ClientResponse:
        """POST and return the response once its headers arrived."""
        assert self.session is not None and self.fresh is not None, "Upstream.start() not awaited"
        try:
            return await self.session.post(url, data=body, headers=headers)
        except _STALE_CONNECTION:
            return await self._send(self.fresh, url, body, headers)
        except Exception as exc:
            raise transport_error(exc) from exc

    async def _send(
        self, session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str]
    ) -> aiohttp.ClientResponse:
        try:
            return await session.post(url, data=body, headers=headers)
        except Exception as exc:
            raise transport_error(exc) from exc


def transport_error(exc: BaseException) -> APIError:
    """Map an aiohttp failure to the error the client sees."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ServiceUnavailable(
            "The model backend did not accept the connection in time.",
            code="backend_connect_timeout",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return GatewayTimeout("The model backend did not answer in time.")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ServiceUnavailable(
            "The model backend is not reachable right now.",
            code="backend_unreachable",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return BadGateway(
            "The model backend closed the connection before finishing its answer.",
            code="backend_disconnected",
        )
    return BadGateway(f"The model backend failed: {type(exc).__name__}.")
