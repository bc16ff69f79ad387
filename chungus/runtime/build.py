"""The composition root: builds every collaborator once and wires the ASGI app (Django must be
set up first: see chungus.asgi and the serve command)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.asgi import get_asgi_application
from starlette.applications import Starlette
from starlette.types import ASGIApp

from chungus.accounts.keyinfo import key_infos
from chungus.accounts.sessions import operator_session
from chungus.batches.batches_api import batch_routes
from chungus.batches.callers import Callers
from chungus.batches.files_api import file_routes
from chungus.batches.prompt_jobs_api import JobRuns, job_routes
from chungus.batches.runner import BatchRunner
from chungus.engines import registry
from chungus.engines.llamacpp.server import LlamaServerOptions
from chungus.fleet.backends import record_health, remove_managed_backends, routing_table
from chungus.fleet.inventory.hosts import inventory
from chungus.fleet.inventory.sampling import run_sampler
from chungus.fleet.lifecycle import deployment_rows
from chungus.fleet.lifecycle.reconciler import Reconciler
from chungus.fleet.lifecycle.supervisor import Supervisor
from chungus.gateway.app import PREFIXES, build_asgi
from chungus.gateway.front import Front
from chungus.gateway.limit_storage import limit_windows
from chungus.gateway.ratelimit import RateLimiter
from chungus.gateway.routing.admission import Admission
from chungus.gateway.routing.health import HealthMonitor
from chungus.gateway.service import Gateway, GatewayOptions
from chungus.gateway.snapshot import SnapshotStore
from chungus.gateway.upstream import Upstream
from chungus.lib.dbthreads import fresh_connection
from chungus.lib.looplag import LoopLag
from chungus.lib.supervise import Loop, Loops
from chungus.runtime.control_plane import reconciler
from chungus.runtime.default_model import LAUNCHER, default_model_supervisor
from chungus.telemetry.requestlog import LogBuffer
from chungus.telemetry.retention import run_retention

logger = logging.getLogger("chungus")


@dataclass
class Runtime:
    """Everything one CHUNGUS process runs, built once and passed around."""

    gateway: Gateway
    health: HealthMonitor
    reconciler: Reconciler | None = None
    default_model: Supervisor | None = None
    batches: BatchRunner | None = None
    serving: bool = True  # False: a worker, which leaves retention and sampling to the servers
    work: list[Loop] = field(default_factory=list)  # a worker's own loops
    loops: Loops = field(default_factory=Loops)
    lag: LoopLag = field(default_factory=LoopLag)
    started: bool = False

    def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {"configuration": self.gateway.store.current.version >= 0}
        if self.default_model is not None:
            status = self.default_model.status
            checks["default_model"] = {"state": status.state, "detail": status.detail}
        checks["loops"] = self.loops.report()
        checks["event_loop"] = self.lag.report()
        # Dropped rows are reported, not fatal: this process still serves (see requestlog.py).
        checks["request_log"] = self.gateway.logs.status()
        # Keys and routes confirmed current lately: else revocations would go unseen.
        checks["snapshot"] = self.gateway.store.report()
        ready = (
            self.started
            and checks["configuration"]
            and checks["snapshot"]["ok"]
            and (self.default_model is None or self.default_model.ready.is_set())
            and self.loops.healthy()
        )
        return {"ready": ready, "checks": checks}

    def background(self) -> list[Loop]:
        """The process's long-running loops, each restarted after an exception (supervise.py);
        `stale_after`: how long without a heartbeat means stuck."""
        gateway, health = self.gateway, self.health
        flush = settings.CHUNGUS_LOG_FLUSH_SECONDS
        sample = settings.CHUNGUS_INVENTORY_SAMPLE_SECONDS
        loops = [
            Loop("configuration", lambda: gateway.store.follow(settings.CHUNGUS_REFRESH_SECONDS)),
            Loop("request_log", lambda: gateway.logs.run(flush), max(30.0, 10 * flush)),
            Loop("health", health.run, 5 * health.interval + 30),
            Loop("event_loop_lag", self.lag.run),
            *self.work,
        ]
        if not self.serving:
            return loops
        run = lambda: run_retention(settings.CHUNGUS_LOG_RETENTION_DAYS)  # noqa: E731
        loops.append(Loop("retention", run, 7800))
        if self.batches is not None:
            runner = self.batches
            loops.append(Loop("batches", runner.run, 10 * runner.lease + 60))
        if sample > 0:
            run = lambda: run_sampler(sample, settings.CHUNGUS_INVENTORY)  # noqa: E731
            loops.append(Loop("inventory_sampler", run, 10 * sample + 60))
        if self.reconciler is not None:
            rec = self.reconciler
            loops.append(Loop("reconciler", rec.run, max(120.0, 10 * rec.interval)))
            loops.append(Loop("reconciler_lease", rec.hold_lease, 2 * rec.lease_seconds + 10))
        if self.default_model is not None:
            loops.append(Loop("default_model", self.default_model.run))
        return loops

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette | None = None) -> AsyncIterator[None]:
        gateway = self.gateway
        await gateway.upstream.start()
        await gateway.store.reload()
        self.loops.start(self.background())
        self.started = True
        try:
            yield
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        """Stop children, flush the request log, close connections."""
        await self.loops.stop()
        if self.default_model is not None:
            await self.default_model.stop()
            await sync_to_async(remove_managed_backends)(
                settings.CHUNGUS_DEFAULT_MODEL_NAME, LAUNCHER
            )
        written = await self.gateway.logs.flush()
        await self.gateway.upstream.close()
        logger.info("stopped; %d request log rows flushed", written)


def read_nodes() -> list[dict[str, Any]]:
    """This host and the declared ones, JSON-ready (NVML calls block: run in a thread)."""
    declared = settings.CHUNGUS_INVENTORY
    return [asdict(host) for host in inventory(Path(declared) if declared else None)]


def build_gateway() -> tuple[Gateway, HealthMonitor]:
    """The data plane and its health checks, as every CHUNGUS process runs them."""
    admission = Admission(
        max_queue=settings.CHUNGUS_QUEUE_MAX,
        queue_timeout=settings.CHUNGUS_QUEUE_TIMEOUT,
        key_share=settings.CHUNGUS_QUEUE_KEY_SHARE,
        headroom=settings.CHUNGUS_BATCH_HEADROOM,
    )
    store = SnapshotStore(
        key_infos, routing_table, on_reload=lambda snapshot: admission.follow(snapshot.models)
    )
    engines = registry.by_name()
    gateway = Gateway(
        store=store,
        limiter=RateLimiter(limit_windows(settings.REDIS_URL)),
        admission=admission,
        upstream=Upstream(
            settings.CHUNGUS_UPSTREAM_CONNECT_TIMEOUT, settings.CHUNGUS_UPSTREAM_READ_TIMEOUT
        ),
        logs=LogBuffer(batch_size=settings.CHUNGUS_LOG_BATCH_SIZE),
        adapters={name: engine.adapter for name, engine in engines.items()},
        options=GatewayOptions(
            max_body_bytes=settings.CHUNGUS_MAX_BODY_BYTES,
            log_prompts=settings.CHUNGUS_LOG_PROMPTS,
            max_attempts=settings.CHUNGUS_MAX_ATTEMPTS,
            failover_seconds=settings.CHUNGUS_FAILOVER_SECONDS,
            cold_start_seconds=settings.CHUNGUS_COLD_START_SECONDS,
        ),
        wake=sync_to_async(fresh_connection(deployment_rows.request_wake), thread_sensitive=False),
    )
    health = HealthMonitor(
        store,
        admission,
        engines,
        interval=settings.CHUNGUS_HEALTH_INTERVAL,
        timeout=settings.CHUNGUS_HEALTH_TIMEOUT,
        on_change=sync_to_async(fresh_connection(record_health), thread_sensitive=False),
    )
    return gateway, health


def worker_runtime() -> Runtime:
    """A worker process's collaborators: the data plane and its health checks, its own
    loops to add to `work`; no HTTP server, control loops or batch runner (`chungus serve`
    runs those)."""
    gateway, health = build_gateway()
    return Runtime(gateway, health, serving=False)


def build_runtime(*, default_model: bool | None = None) -> tuple[Front, Runtime]:
    """Build the process's collaborators and its ASGI app."""
    gateway, health = build_gateway()
    store, admission = gateway.store, gateway.admission
    runtime = Runtime(
        gateway,
        health,
        reconciler(
            store.reload, gateway.warm_up, admission.in_flight_on, admission.last_request.get
        ),
        batches=BatchRunner(
            gateway,
            concurrency=settings.CHUNGUS_BATCH_CONCURRENCY,
            lease=settings.CHUNGUS_BATCH_LEASE_SECONDS,
            interval=settings.CHUNGUS_BATCH_INTERVAL,
        ),
    )
    if settings.CHUNGUS_DEFAULT_MODEL if default_model is None else default_model:
        options = LlamaServerOptions(
            alias=settings.CHUNGUS_DEFAULT_MODEL_NAME,
            threads=settings.CHUNGUS_LLAMA_THREADS,
            parallel=settings.CHUNGUS_LLAMA_PARALLEL,
            context=settings.CHUNGUS_LLAMA_CONTEXT,
        )
        runtime.default_model = default_model_supervisor(
            settings.CHUNGUS_HOME, options, settings.CHUNGUS_MODEL_READY_TIMEOUT, store.reload
        )
    django_app = cast(ASGIApp, get_asgi_application())
    session = sync_to_async(fresh_connection(operator_session), thread_sensitive=False)
    callers = Callers(gateway)
    more = [
        *file_routes(callers, settings.CHUNGUS_MAX_FILE_BYTES, PREFIXES),
        *batch_routes(callers, settings.CHUNGUS_BATCH_MAX_LINES, PREFIXES),
        *job_routes(JobRuns(callers)),
    ]
    app = build_asgi(
        gateway, runtime.readiness, read_nodes, django_app, runtime.lifespan, session, more
    )
    return app, runtime
