"""The data plane: authenticate, limit, admit, route, proxy (with failover), account, log."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from chungus.accounts.keyinfo import KeyInfo
from chungus.core.routes import BackendInfo, ModelInfo
from chungus.engines.adapter import EngineAdapter, StreamTranslator
from chungus.engines.error_mapping import normalize_engine_error
from chungus.gateway.auth import authenticate, authorize_model
from chungus.gateway.caps import apply_caps, output_tokens
from chungus.gateway.disconnect import ClientDisconnected, DisconnectGuard
from chungus.gateway.payload import Completion, parse_completion, prompt_estimate, prompt_text
from chungus.gateway.ratelimit import RateLimiter, Reservation
from chungus.gateway.responses import EventStream, error_response
from chungus.gateway.routing.admission import Admission
from chungus.gateway.routing.prefix import prefix_hashes
from chungus.gateway.routing.strategies import RouteRequest
from chungus.gateway.snapshot import SnapshotStore
from chungus.gateway.unauthenticated import Unauthenticated
from chungus.gateway.upstream import EngineResponse, Upstream, transport_error
from chungus.lib import http1
from chungus.lib.body_limit import drain, too_large
from chungus.lib.openai_errors import (
    APIError,
    AuthenticationFailed,
    BadGateway,
    GatewayTimeout,
    InternalError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)
from chungus.lib.sse import error_event, event_json, has_content, is_usage_only
from chungus.telemetry.entries import BOUNDS, UNKNOWN_MODEL, LogEntry, bounded_text
from chungus.telemetry.requestlog import LogBuffer, LogBufferMetrics

logger = logging.getLogger("chungus.gateway")
CLIENT_CLOSED = 499  # nginx's status for a client that went away; only ever logged
_UPSTREAM_HEADERS = {"Content-Type": "application/json", "User-Agent": "chungus"}


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    max_body_bytes: int = 8 * 1024 * 1024
    log_prompts: bool = False
    max_attempts: int = 3  # backends tried for one request before the error reaches the client
    failover_seconds: float = 30.0  # no new attempt starts after this long
    cold_start_seconds: float = 120.0  # how long a request waits for an unloaded model to start


@dataclass(slots=True)
class Exchange:
    """One request's state as it moves through the data plane."""

    entry: LogEntry
    started: float
    key: KeyInfo | None = None
    model: ModelInfo | None = None
    backend: BackendInfo | None = None
    cold_start: float | None = None
    reservation: Reservation | None = None  # the key's tokens set aside until _finish
    prompt_estimate: int = 0
    streamed: int = 0  # events streamed to the client: its charge when usage never came
    finished: bool = False  # released and logged: _finish runs once per request


class EngineFailed(Exception):
    """An attempt failed before anything reached the client: another backend may try."""

    def __init__(self, error: APIError, retry: bool) -> None:
        self.error, self.retry = error, retry


class Gateway:
    """Serves /v1 completions; every collaborator is passed in."""

    def __init__(
        self,
        store: SnapshotStore,
        limiter: RateLimiter,
        admission: Admission,
        upstream: Upstream,
        logs: LogBuffer,
        adapters: dict[str, EngineAdapter],
        options: GatewayOptions,
        wake: Callable[[str], Awaitable[None]] | None = None,
        metrics: CollectorRegistry | None = None,
    ) -> None:
        self.store = store
        self.limiter = limiter
        self.admission = admission
        self.upstream = upstream
        self.logs = logs
        self.adapters = adapters
        self.options = options
        self.wake = wake
        self.metrics = metrics or CollectorRegistry()  # what /metrics shows
        self.unauthenticated = Unauthenticated(self.metrics)
        self.metrics.register(LogBufferMetrics(logs))

    async def complete(self, request: Request, endpoint: str, chat: bool) -> Response:
        x = Exchange(LogEntry(endpoint=endpoint, status=200), time.perf_counter())
        guard: DisconnectGuard | None = None
        try:
            completion = await self._admit(request, x, chat)
            guard = DisconnectGuard(request.receive)
            with guard.watching():
                response = await self._attempts(x, completion, endpoint)
                if x.cold_start is not None:
                    response.headers["x-chungus-cold-start-seconds"] = f"{x.cold_start:.1f}"
                if isinstance(response, EventStream):
                    response.guard = guard
                    guard = None  # the stream owns the guard from here on
                return response
        except APIError as error:
            if x.key is None and isinstance(error, AuthenticationFailed):
                # Counted, not logged: anyone can send these, as many as they like.
                self.unauthenticated.record(error.code or error.type)
            else:
                self._finish(x, error.status, error.code or error.type)
            return error_response(error)
        except (ClientDisconnected, ClientDisconnect):
            self._finish(x, CLIENT_CLOSED, "client_disconnected")
            return Response(status_code=CLIENT_CLOSED)
        except Exception as exc:
            return error_response(self._unexpected(x, exc))
        except BaseException:  # cancelled (the server stopping): still release and log
            self._finish(x, CLIENT_CLOSED, "cancelled")
            raise
        finally:
            if guard is not None:
                guard.close()

    async def caller(self, authorization: str | None) -> KeyInfo:
        """The calling key (else 401), counted against its request limits (else 429)."""
        key = authenticate(self.store.current, authorization, time.time())
        await self.limiter.admit(key)
        return key

    async def _admit(self, request: Request, x: Exchange, chat: bool) -> Completion:
        snapshot = self.store.current
        x.key = key = authenticate(snapshot, request.headers.get("authorization"), time.time())
        x.entry.key_id, x.entry.key_name = key.id, key.name
        # Every request a key makes counts, also one answered 400 or 404.
        await self.limiter.admit(key)
        raw = await read_body(request, self.options.max_body_bytes)
        completion = parse_completion(raw, chat=chat)
        await self._prepare(x, completion, chat)
        return completion

    async def _prepare(self, x: Exchange, completion: Completion, chat: bool) -> None:
        """What follows the body: the model, the key's right to it, caps, tokens reserved."""
        assert x.key is not None
        key = x.key
        x.entry.stream = completion.stream
        x.model = model = self.store.current.models.get(completion.model)
        if model is None:
            x.entry.model = UNKNOWN_MODEL  # the client's text is never stored or rolled up
            raise NotFound(
                f"The model '{bounded_text(completion.model, BOUNDS['model'])}' does not exist.",
                param="model",
                code="model_not_found",
            )
        x.entry.model = model.name
        if self.options.log_prompts:
            x.entry.prompt = prompt_text(completion)
        authorize_model(key, model.name)
        apply_caps(completion, model.caps)
        x.prompt_estimate = prompt_estimate(completion)
        x.reservation = await self.limiter.reserve(
            key, x.prompt_estimate + output_tokens(completion, model.caps)
        )
        if not model.backends and model.deployed:
            x.model = model = await self._wake(x, model.name)
        if chat:
            x.model = chat_backends(model)

    async def run(self, key: KeyInfo, endpoint: str, body: dict[str, Any]) -> tuple[int, Any]:
        """One request made for a key without an HTTP client (a batch line): checked, limited,
        queued at the key's tier, routed and logged as any other; never streamed. Returns
        the status and the answer's JSON (OpenAI's error envelope when it failed)."""
        chat = endpoint == "chat/completions"
        x = Exchange(LogEntry(endpoint=endpoint, status=200), time.perf_counter())
        x.key = key
        x.entry.key_id, x.entry.key_name = key.id, key.name
        try:
            completion = parse_completion(orjson.dumps({**body, "stream": False}), chat=chat)
            await self._prepare(x, completion, chat)
            response = await self._attempts(x, completion, endpoint)
        except APIError as error:
            self._finish(x, error.status, error.code or error.type)
            return error.status, error.envelope()
        except Exception as exc:
            internal = self._unexpected(x, exc)
            return internal.status, internal.envelope()
        finally:
            self._finish(x, 499, "cancelled")  # only if nothing above finished it
        return response.status_code, orjson.loads(bytes(response.body))

    async def _wake(self, x: Exchange, name: str) -> ModelInfo:
        """The model was unloaded for idleness: start it, and wait (bounded) until it serves."""
        if self.wake is not None:
            await self.wake(name)
        started = time.monotonic()
        while time.monotonic() - started < self.options.cold_start_seconds:
            await asyncio.sleep(0.1)
            model = self.store.current.models.get(name)
            if model is not None and model.backends:
                x.cold_start = time.monotonic() - started
                return model
        raise ServiceUnavailable(
            f"The model '{name}' is starting and was not ready within "
            f"{self.options.cold_start_seconds:.0f} s; retry shortly.",
            code="model_starting",
            headers={"Retry-After": "10"},
        )

    async def warm_up(self, name: str) -> int:
        """Send the model a tiny request through the normal path, at warm-up priority, unbilled."""
        model = self.store.current.models.get(name)
        chat = model is None or any(b.chat for b in model.backends)
        endpoint = "chat/completions" if chat else "completions"
        body: dict[str, Any] = {"model": name, "max_tokens": 4}
        if chat:
            body["messages"] = [{"role": "user", "content": "what is 1 + 1"}]
        else:
            body["prompt"] = "1 + 1 ="
        x = Exchange(
            LogEntry(endpoint="warmup", status=200, model=name, key_name="warm-up"),
            time.perf_counter(),
        )
        x.key, x.model = KeyInfo(id=0, name="warm-up", tier="warmup"), model
        if model is None:
            return 404
        completion = Completion(body, name, stream=False, wants_usage=False, raw=orjson.dumps(body))
        try:
            response = await self._attempts(x, completion, endpoint)
        except APIError as error:
            self._finish(x, error.status, error.code or error.type)
            return error.status
        except Exception as exc:
            return self._unexpected(x, exc).status
        finally:
            self._finish(x, CLIENT_CLOSED, "cancelled")  # only if nothing above finished it
        return response.status_code

    async def _attempts(self, x: Exchange, completion: Completion, endpoint: str) -> Response:
        """Try backends until one answers, within the attempt budget and deadline."""
        assert x.model is not None and x.key is not None
        prefixes = prefix_hashes(completion.body) if x.model.routing == "cache-affinity" else ()
        route = RouteRequest(x.model.name, prefixes)
        deadline = time.monotonic() + self.options.failover_seconds
        tried: set[int] = set()
        while True:
            backend = await self.admission.acquire(
                x.model, route, x.key.id, x.key.tier, frozenset(tried)
            )
            x.backend = backend
            x.entry.backend, x.entry.attempts = backend.url, len(tried) + 1
            try:
                return await self._attempt(x, completion, endpoint, backend)
            except EngineFailed as failed:
                self._release(x)
                tried.add(backend.id)
                more = len(tried) < min(self.options.max_attempts, len(x.model.backends))
                if not (failed.retry and more and time.monotonic() < deadline):
                    raise failed.error from None

    async def _attempt(
        self, x: Exchange, completion: Completion, endpoint: str, backend: BackendInfo
    ) -> Response:
        adapter = self.adapters.get(backend.engine)
        if adapter is None:
            raise EngineFailed(BadGateway(f"No adapter for engine '{backend.engine}'."), True)
        body, raw = completion.body, completion.raw
        if x.model is not None and not x.model.caps.engine_options:
            body = adapter.without_shared_settings(body)
            raw = raw if body is completion.body else b""
        sent = adapter.request(endpoint, body, raw, backend.upstream_model, completion.stream)
        url = (backend.root if adapter.paths_from_root else backend.url) + sent.path
        try:
            headers = {**_UPSTREAM_HEADERS, **backend.auth_headers}
            response = await self.upstream.post(url, sent.body, headers)
        except APIError as error:
            raise self._failed(backend, error) from None
        if response.status >= 400:
            return await self._engine_error(x, backend, adapter, response)
        if completion.stream:
            self.admission.breaker(backend.id).success()
            try:
                translator = adapter.stream(endpoint, completion.model)
            except BaseException:
                response.close()  # nobody will read it: do not leave the engine generating
                raise
            relay = self._relay(x, completion, response, translator)
            return EventStream(relay, on_close=functools.partial(self._abandoned, x, response))
        try:
            data = await response.read()
        except Exception as exc:
            raise self._failed(backend, transport_error(exc)) from None
        finally:
            response.release()
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            not_json = BadGateway("The model backend answered with something that is not JSON.")
            raise self._failed(backend, not_json) from None
        self.admission.breaker(backend.id).success()
        if isinstance(answer, dict):
            answer = adapter.response(endpoint, answer, completion.model)
            self._count_usage(x, answer.get("usage"))
        self._finish(x, 200)
        return Response(orjson.dumps(answer), 200, media_type="application/json")

    async def _engine_error(
        self,
        x: Exchange,
        backend: BackendInfo,
        adapter: EngineAdapter,
        response: EngineResponse,
    ) -> Response:
        """Answer an engine's error in OpenAI's envelope; an engine fault may fail over."""
        try:
            data = await response.read()
        except Exception:
            data = b""
        finally:
            response.release()
        status, envelope = normalize_engine_error(*adapter.error(response.status, data))
        if response.status >= 500:
            raise self._failed(backend, BadGateway(envelope["error"]["message"]))
        self.admission.breaker(backend.id).success()  # it answered: it is alive
        self._finish(x, status, str(envelope["error"]["code"] or envelope["error"]["type"]))
        return Response(orjson.dumps(envelope), status, media_type="application/json")

    def _failed(self, backend: BackendInfo, error: APIError) -> EngineFailed:
        """Count the failure against the backend; say whether another may be tried."""
        fatal = error.code in ("backend_unreachable",)
        self.admission.breaker(backend.id).failure(time.monotonic(), error.message, fatal=fatal)
        return EngineFailed(error, retry=not isinstance(error, GatewayTimeout))

    async def _relay(
        self,
        x: Exchange,
        completion: Completion,
        response: EngineResponse,
        translator: StreamTranslator,
    ) -> AsyncGenerator[bytes, None]:
        status, error_type, clean, complete = 200, "", False, False
        try:
            async for chunk in response.iter_any():
                if x.entry.ttft_ms is not None and translator.passthrough(chunk):
                    x.streamed += chunk.count(b"data:")
                    yield chunk  # whole events, none to inspect: forward the bytes as they came
                    continue
                out = [e for e in translator.feed(chunk) if self._keep_event(x, completion, e)]
                complete = bool(out) and out[-1].startswith(b"data: [DONE]")
                x.streamed += len(out)
                if out:
                    yield b"".join(out)
                if complete:
                    break  # the answer is complete; do not wait for the engine to hang up
            else:
                out = [e for e in translator.end() if self._keep_event(x, completion, e)]
                if out:
                    yield b"".join(out)
            clean = True
        except (GeneratorExit, asyncio.CancelledError):
            if not complete:  # a client that hangs up after [DONE] got everything
                status, error_type = CLIENT_CLOSED, "client_disconnected"
            raise
        except Exception as exc:
            # Bytes already reached the client, so the status line is sent:
            # end the stream with an error event rather than hang or cut it.
            if from_engine(exc):
                error = transport_error(exc)
                if x.backend is not None:
                    self.admission.breaker(x.backend.id).failure(time.monotonic(), error.message)
            else:  # a translator's bug, not the backend's fault
                logger.error("unexpected error relaying %s", x.entry.endpoint, exc_info=exc)
                error = InternalError()
            status, error_type = error.status, error.code or error.type
            yield error_event(error.envelope())
        finally:
            if clean:
                response.release()
            else:
                response.close()  # closing the connection stops the engine generating
            self._finish(x, status, error_type)

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

    def _unexpected(self, x: Exchange, exc: Exception) -> InternalError:
        """A bug of ours (an adapter's, say): its traceback goes to the process log, never
        to the row or the client; the request is released and logged as a 500."""
        logger.error("unexpected error serving %s", x.entry.endpoint, exc_info=exc)
        internal = InternalError()
        if x.key is not None:  # without a key nothing was taken, and no row is owed
            self._finish(x, internal.status, internal.code or internal.type)
        return internal

    def _release(self, x: Exchange) -> None:
        if x.backend is not None and x.model is not None:
            self.admission.release(x.model.name, x.backend)
        x.backend = None

    def _abandoned(self, x: Exchange, response: EngineResponse) -> None:
        """A stream's cleanup when its relay never ran (the client left before the first
        byte, or sending the status line failed); nothing to do when the relay finished."""
        if x.finished:
            return
        response.close()
        self._finish(x, CLIENT_CLOSED, "client_disconnected")

    def _finish(self, x: Exchange, status: int, error_type: str = "") -> None:
        if x.finished:
            return
        x.finished = True
        entry = x.entry
        entry.status, entry.error_type = status, error_type
        entry.latency_ms = (time.perf_counter() - x.started) * 1000
        left_an_engine = status == CLIENT_CLOSED and x.backend is not None
        self._release(x)
        tokens = entry.prompt_tokens + entry.completion_tokens
        if x.reservation is not None:
            # Without usage: the prompt and what was streamed, if an engine had the request.
            if not tokens and (x.streamed or left_an_engine):
                tokens = x.prompt_estimate + x.streamed
            self.limiter.settle_later(x.reservation, tokens)
            x.reservation = None
        self.logs.append(entry)


def from_engine(exc: Exception) -> bool:
    """Whether an error met while relaying came from the engine's connection (not from us)."""
    return isinstance(exc, APIError | http1.HTTPError | OSError | TimeoutError)


def chat_backends(model: ModelInfo) -> ModelInfo:
    """The model with only the backends that can chat; 400 when none can."""
    if all(b.chat for b in model.backends):
        return model
    able = tuple(b for b in model.backends if b.chat)
    if not able:
        raise InvalidRequest(
            f"The model '{model.name}' has no chat format: it is a completion model with no "
            "chat template and no known turn format for its architecture. "
            "Send a plain prompt to /v1/completions instead.",
            param="messages",
            code="model_has_no_chat_format",
        )
    return replace(model, backends=able)


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing more than `limit` bytes: the rest is read and dropped (within
    body_limit's bounds) before the 413, so that the client, still sending, can read it."""
    stream = request.stream()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, await drain(stream))
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, await drain(stream))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int, drained: bool) -> PayloadTooLarge:
    """The 413; it closes the connection when the body was too large even to drain."""
    error = too_large(limit)
    if not drained:
        error.headers["Connection"] = "close"
    return error
