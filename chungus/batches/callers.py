"""Who calls /v1/files and /v1/batches: the key, checked as the data plane checks every
caller (Gateway.caller: the snapshot, then the key's request limits)."""

from __future__ import annotations

from starlette.requests import Request

from chungus.accounts.keyinfo import KeyInfo
from chungus.gateway.service import Gateway


class Callers:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def key(self, request: Request) -> KeyInfo:
        """The calling key, or 401; 429 when it is over its request limit."""
        return await self.gateway.caller(request.headers.get("authorization"))
