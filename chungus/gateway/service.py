"""The data plane: authenticate, limit, route, proxy, account, log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from starlette.requests import Request
from starlette.responses import Response

from chungus.gateway.auth import authenticate, authorize_model
from chungus.gateway.balancer import Balancer
from chungus.gateway.compat import complete_response
from chungus.gateway.disconnect import ClientDisconnected, DisconnectGuard
from chungus.gateway.engine_errors import normalize_engine_error
from chungus.gateway.errors import BadGateway, GatewayError, NotFound, PayloadTooLarge
from chungus.gateway.payload import Completion, parse_completion, prompt_text, upstream_body
from chungus.gateway.ratelimit import RateLimiter
from chungus.gateway.requestlog import LogBuffer, LogEntry
from chungus.gateway.responses import EventStream, error_response
from chungus.gateway.snapshot import BackendInfo, KeyInfo, SnapshotStore
from chungus.gateway.sse import EventSplitter, error_event, event_json, has_content, is_usage_only
from chungus.gateway.upstream import Upstream, transport_error

CLIENT_CLOSED = 499  # nginx's status for a client that went away; only ever logged
_UPSTREAM_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    max_body_bytes: int = 8 * 1024 * 1024
    log_prompts: bool = False


@dataclass(slots=True)
class Exchange:
    """One request's state as it moves through the data plane."""

    entry: LogEntry
    started: float
    key: KeyInfo | None = None
    backend: BackendInfo | None = None


class Gateway:
    """Serves /v1 completions; every collaborator is passed in."""

    def __init__(
        self,
        store: SnapshotStore,
        limiter: RateLimiter,
        balancer: Balancer,
        upstream: Upstream,
        logs: LogBuffer,
        options: GatewayOptions,
    ) -> None:
        self.store = store
        self.limiter = limiter
        self.balancer = balancer
        self.upstream = upstream
        self.logs = logs
        self.options = options

    async def complete(self, request: Request, endpoint: str, chat: bool) -> Response:
        x = Exchange(LogEntry(endpoint=endpoint, status=200), time.perf_counter())
        guard: DisconnectGuard | None = None
        try:
            completion = await self._admit(request, x, chat)
            assert x.backend is not None
            body = upstream_body(completion, x.backend.upstream_model)
            url = f"{x.backend.url}/{endpoint}"
            guard = DisconnectGuard(request.receive)
            async with guard.watching():
                if not completion.stream:
                    return await self._fetch(x, url, body)
                response = await self._stream(x, completion, url, body, guard)
                if isinstance(response, EventStream):
                    guard = None  # the stream owns the guard from here on
                return response
        except GatewayError as error:
            self._finish(x, error.status, error.code or error.type)
            return error_response(error)
        except ClientDisconnected:
            self._finish(x, CLIENT_CLOSED, "client_disconnected")
            return Response(status_code=CLIENT_CLOSED)
        finally:
            if guard is not None:
                guard.close()

    async def _admit(self, request: Request, x: Exchange, chat: bool) -> Completion:
        snapshot = self.store.current
        x.key = key = authenticate(snapshot, request.headers.get("authorization"), time.time())
        x.entry.key_id, x.entry.key_name = key.id, key.name
        completion = parse_completion(
            await read_body(request, self.options.max_body_bytes), chat=chat
        )
        x.entry.model, x.entry.stream = completion.model, completion.stream
        if self.options.log_prompts:
            x.entry.prompt = prompt_text(completion)
        model = snapshot.models.get(completion.model)
        if model is None:
            raise NotFound(
                f"The model '{completion.model}' does not exist.",
                param="model",
                code="model_not_found",
            )
        authorize_model(key, model.name)
        await self.limiter.admit(key)
        x.backend = self.balancer.acquire(model.name, model.backends)
        x.entry.backend = x.backend.url
        return completion

    async def _fetch(self, x: Exchange, url: str, body: bytes) -> Response:
        response = await self.upstream.post(url, body, _UPSTREAM_HEADERS)
        try:
            data = await response.read()
        except Exception as exc:
            raise transport_error(exc, url) from exc
        finally:
            response.release()
        if response.status >= 400:
            return self._engine_error(x, response.status, data)
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise BadGateway(
                "The model backend answered with something that is not JSON."
            ) from None
        if isinstance(answer, dict):
            self._count_usage(x, answer.get("usage"))
            if complete_response(answer):
                data = orjson.dumps(answer)
        self._finish(x, response.status)
        return Response(data, response.status, media_type="application/json")

    async def _stream(
        self, x: Exchange, completion: Completion, url: str, body: bytes, guard: DisconnectGuard
    ) -> Response:
        response = await self.upstream.post(url, body, _UPSTREAM_HEADERS)
        if response.status >= 400:
            try:
                data = await response.read()
            finally:
                response.release()
            return self._engine_error(x, response.status, data)
        return EventStream(self._relay(x, completion, response), guard)

    async def _relay(
        self, x: Exchange, completion: Completion, response: aiohttp.ClientResponse
    ) -> AsyncGenerator[bytes, None]:
        splitter = EventSplitter()
        status, error_type, clean, complete = 200, "", False, False
        try:
            async for chunk in response.content.iter_any():
                if x.entry.ttft_ms is not None and splitter.passthrough(chunk):
                    yield chunk  # whole events, none to inspect: forward the bytes as they came
                    continue
                out = [e for e in splitter.feed(chunk) if self._keep_event(x, completion, e)]
                complete = bool(out) and out[-1].startswith(b"data: [DONE]")
                if out:
                    yield b"".join(out)
                if complete:
                    break  # the answer is complete; do not wait for the engine to hang up
            else:
                rest = splitter.rest()
                if rest:
                    yield rest
            clean = True
        except (GeneratorExit, asyncio.CancelledError):
            if not complete:  # a client that hangs up after [DONE] got everything
                status, error_type = CLIENT_CLOSED, "client_disconnected"
            raise
        except Exception as exc:
            # Bytes already reached the client, so the status line is sent:
            # end the stream with an error event rather than hang or cut it.
            error = transport_error(exc, str(response.url))
            status, error_type = error.status, error.code or error.type
            yield error_event(error.envelope())
        finally:
            if clean:
                response.release()
            else:
                response.close()  # closing the connection stops the engine generating
            self._finish(x, status, error_type)

    def _engine_error(self, x: Exchange, engine_status: int, data: bytes) -> Response:
        """Answer an engine's error in OpenAI's envelope, and log it."""
        status, envelope = normalize_engine_error(engine_status, data)
        self._finish(x, status, str(envelope["error"]["code"] or envelope["error"]["type"]))
        return Response(orjson.dumps(envelope), status, media_type="application/json")

    def _keep_event(self, x: Exchange, completion: Completion, event: bytes) -> bool:
        """Note first token and usage; drop the usage chunk the client did not ask for."""
        if x.entry.ttft_ms is not None and b'"usage"' not in event:
            return True
        chunk = event_json(event)
        if chunk is None:
            return True
        if x.entry.ttft_ms is None and has_content(chunk):
            x.entry.ttft_ms = (time.perf_counter() - x.started) * 1000
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._count_usage(x, usage)
            if is_usage_only(chunk) and not completion.wants_usage:
                return False
        return True

    def _count_usage(self, x: Exchange, usage: Any) -> None:
        if isinstance(usage, dict):
            x.entry.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            x.entry.completion_tokens = int(usage.get("completion_tokens") or 0)

    def _finish(self, x: Exchange, status: int, error_type: str = "") -> None:
        entry = x.entry
        entry.status, entry.error_type = status, error_type
        entry.latency_ms = (time.perf_counter() - x.started) * 1000
        if x.backend is not None:
            self.balancer.release(x.backend)
            x.backend = None
        tokens = entry.prompt_tokens + entry.completion_tokens
        if x.key is not None and x.key.tpm and tokens:
            self.limiter.charge_later(x.key, tokens)
        self.logs.append(entry)


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing more than `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)
