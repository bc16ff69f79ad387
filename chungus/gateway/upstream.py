"""Calls to engines through this process's pool of kept-alive HTTP/1.1 connections."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from chungus.lib import http1
from chungus.lib.openai_errors import APIError, BadGateway, GatewayTimeout, ServiceUnavailable

EngineResponse = http1.Response


class Upstream:
    """Sends requests to backends and maps transport failures to gateway errors.

    A request that fails on a reused connection before any answer came is sent again on a
    new one (engines such as llama-server close a kept-alive connection after a stream
    without saying so); see chungus.lib.http1.
    """

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.pool: http1.Pool | None = None

    async def start(self) -> None:
        self.pool = http1.Pool(self.connect_timeout, self.read_timeout)

    async def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> EngineResponse:
        """POST and return the response once its headers arrived."""
        assert self.pool is not None, "Upstream.start() not awaited"
        try:
            return await self.pool.post(url, body, headers)
        except Exception as exc:
            raise transport_error(exc) from exc


def transport_error(exc: BaseException) -> APIError:
    """Map a failed call to an engine to the error the client sees."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, http1.ConnectTimeout):
        return ServiceUnavailable(
            "The model backend did not accept the connection in time.",
            code="backend_connect_timeout",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, http1.ReadTimeout | asyncio.TimeoutError):
        return GatewayTimeout("The model backend did not answer in time.")
    if isinstance(exc, http1.ConnectFailed):
        return ServiceUnavailable(
            "The model backend is not reachable right now.",
            code="backend_unreachable",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, http1.Disconnected):
        return BadGateway(
            "The model backend closed the connection before finishing its answer.",
            code="backend_disconnected",
        )
    if isinstance(exc, http1.BadResponse):
        return BadGateway("The model backend's answer is not valid HTTP.", code="bad_response")
    return BadGateway(f"The model backend failed: {type(exc).__name__}.")
