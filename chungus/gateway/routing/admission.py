"""Admission: bounded concurrency per backend, and a fair priority queue per model.

A request takes a backend at once when one is healthy and has room. Otherwise it
waits in its model's queue: higher tiers first (interactive, batch, background,
warm-up), and within a tier the keys take turns, so one busy key cannot starve
another. Waiting is bounded in length and time; beyond either the client gets a
503 with Retry-After at once, never an open-ended hang. One key may hold only a
share of the queue (a 429 beyond it), so it cannot fill it for everyone.

A waiter is served the moment a backend has room: when a request ends, when a
newcomer finds room the queue's earlier waiters cannot use, when a backend comes
back, and when the routing table adds a backend or raises a backend's concurrency.

Batch and background work soaks up idle capacity only: it takes a backend while at
least `headroom` of the backend's slots stay free after it (the engine's own slot count
where it reports one, e.g. llama.cpp's /slots, else the backend's max concurrency), and
on a backend with no more slots than that, only while nothing else runs there. So an
interactive request arriving finds a free slot at once instead of queueing behind batch
lines; it never waits for more than the lines already running, which are bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from chungus.core.routes import BackendInfo, ModelInfo
from chungus.engines.load import EngineLoad, load_score
from chungus.gateway.routing.breaker import Breaker
from chungus.gateway.routing.strategies import Candidate, RouteRequest, Strategy, make_strategy
from chungus.lib.openai_errors import RateLimited, ServiceUnavailable

TIERS = ("interactive", "batch", "background", "warmup")
IDLE_ONLY = frozenset({1, 2})  # the ranks of batch and background: idle capacity only


@dataclass(slots=True)
class Waiter:
    key_id: int
    request: RouteRequest
    exclude: frozenset[int]
    future: asyncio.Future[BackendInfo]
    model: ModelInfo  # the backends it may use (a chat request: those that can chat)

    def follow(self, current: ModelInfo) -> None:
        """Take the routing table's new version of the model, keeping to chat backends
        when every backend it was given could chat."""
        chat_only = all(b.chat for b in self.model.backends)
        backends = tuple(b for b in current.backends if b.chat or not chat_only)
        self.model = replace(current, backends=backends)


@dataclass(slots=True)
class ModelQueue:
    model: ModelInfo
    tiers: list[OrderedDict[int, deque[Waiter]]] = field(
        default_factory=lambda: [OrderedDict() for _ in TIERS]
    )
    depth: int = 0

    def push(self, tier: int, waiter: Waiter) -> None:
        self.tiers[tier].setdefault(waiter.key_id, deque()).append(waiter)
        self.depth += 1

    def held_by(self, key_id: int) -> int:
        """How many places the key holds, in every tier."""
        return sum(len(keys.get(key_id, ())) for keys in self.tiers)

    def waiting(self) -> Iterable[tuple[int, Waiter]]:
        """Waiters in the order they should be served: by tier, keys taking turns."""
        for rank, keys in enumerate(self.tiers):
            queues = [list(q) for q in keys.values()]
            for turn in range(max((len(q) for q in queues), default=0)):
                for queue in queues:
                    if turn < len(queue):
                        yield rank, queue[turn]

    def remove(self, rank: int, waiter: Waiter) -> None:
        keys = self.tiers[rank]
        queue = keys[waiter.key_id]
        queue.remove(waiter)
        self.depth -= 1
        if queue:
            keys.move_to_end(waiter.key_id)  # this key was served: the others go first
        else:
            del keys[waiter.key_id]


class Admission:
    """In-flight counts, breakers and queues for every backend and model of one process."""

    def __init__(
        self,
        *,
        max_queue: int = 256,
        queue_timeout: float = 30.0,
        key_share: float = 0.5,
        headroom: int = 1,
        breaker: Callable[[], Breaker] = Breaker,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_queue = max_queue
        self.queue_timeout = queue_timeout
        self.key_share = key_share
        self.headroom = headroom
        self.clock = clock
        self.make_breaker = breaker
        self.in_flight: dict[int, int] = {}
        self.breakers: dict[int, Breaker] = {}
        self.engine_load: dict[int, EngineLoad] = {}
        self.strategies: dict[str, Strategy] = {}
        self.queues: dict[str, ModelQueue] = {}
        self.last_request: dict[str, float] = {}  # model -> when one last ended (Unix time)

    def breaker(self, backend_id: int) -> Breaker:
        found = self.breakers.get(backend_id)
        if found is None:
            found = self.breakers[backend_id] = self.make_breaker()
        return found

    def strategy(self, model: ModelInfo) -> Strategy:
        found = self.strategies.get(model.name)
        if found is None or found.name != model.routing:
            found = self.strategies[model.name] = make_strategy(model.routing)
        return found

    async def acquire(
        self,
        model: ModelInfo,
        request: RouteRequest,
        key_id: int,
        tier: str = "interactive",
        exclude: frozenset[int] = frozenset(),
    ) -> BackendInfo:
        """Return a backend for the request, waiting in the model's queue if all are busy."""
        backends = [b for b in model.backends if b.id not in exclude]
        if not backends:
            raise ServiceUnavailable(
                f"The model '{model.name}' has no backend right now.", headers={"Retry-After": "5"}
            )
        rank = TIERS.index(tier) if tier in TIERS else 0
        queue = self.queues.get(model.name)
        if queue is None or not queue.depth:
            chosen = self._choose(model, request, exclude, rank)
            if chosen is not None:
                return chosen
        now = self.clock()
        if not any(self.breaker(b.id).available(now) for b in backends):
            reasons = "; ".join(f"{b.url}: {self.breaker(b.id).reason or 'down'}" for b in backends)
            raise ServiceUnavailable(
                f"No backend of '{model.name}' is healthy right now ({reasons}).",
                code="no_healthy_backend",
                headers={"Retry-After": "2"},
            )
        queue = self.queues.setdefault(model.name, ModelQueue(model))
        queue.model = model
        if queue.depth >= self.max_queue:
            raise ServiceUnavailable(
                f"'{model.name}' is full with {queue.depth} requests waiting; retry shortly.",
                code="model_overloaded",
                headers={"Retry-After": "2"},
            )
        held, allowed = queue.held_by(key_id), max(1, int(self.max_queue * self.key_share))
        if held >= allowed:
            raise RateLimited(
                f"Too many requests of this key are waiting for '{model.name}': one key may "
                f"hold {allowed} of the {self.max_queue} places in its queue. Retry when some "
                "are answered.",
                code="queue_share_exceeded",
                headers={"Retry-After": "2"},
            )
        future = asyncio.get_running_loop().create_future()
        waiter = Waiter(key_id, request, exclude, future, model)
        queue.push(rank, waiter)
        # Earlier waiters may be kept off a backend with room (failover exclusions): then
        # it is this one's at once, not after the next release.
        self.dispatch(model.name)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), self.queue_timeout)
        except TimeoutError:
            if waiter.future.done():
                return waiter.future.result()
            queue.remove(rank, waiter)
            waiter.future.cancel()
            raise ServiceUnavailable(
                f"Waited {self.queue_timeout:.0f} s for a free backend of '{model.name}'.",
                code="queue_timeout",
                headers={"Retry-After": "5"},
            ) from None
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self.release(model.name, waiter.future.result())  # it was given a backend
            elif not waiter.future.done():
                queue.remove(rank, waiter)
                waiter.future.cancel()
            raise

    def in_flight_on(self, backend_ids: Iterable[int]) -> int:
        """Requests this process has in flight on these backends (for draining)."""
        return sum(self.in_flight.get(i, 0) for i in backend_ids)

    def release(self, model_name: str, backend: BackendInfo) -> None:
        """A request on `backend` finished: hand its place to the next waiter."""
        self.in_flight[backend.id] = max(0, self.in_flight.get(backend.id, 1) - 1)
        self.last_request[model_name] = time.time()  # idle detection reads it, not the log
        self.dispatch(model_name)

    def dispatch(self, model_name: str) -> None:
        """Give free backends to waiters, best first."""
        queue = self.queues.get(model_name)
        while queue is not None and queue.depth:
            for rank, waiter in queue.waiting():
                chosen = self._choose(waiter.model, waiter.request, waiter.exclude, rank)
                if chosen is None:
                    continue
                queue.remove(rank, waiter)
                waiter.future.set_result(chosen)
                break
            else:
                return

    def dispatch_all(self) -> None:
        """A backend came back: serve whoever waits, in every model."""
        for name in list(self.queues):
            self.dispatch(name)

    def follow(self, models: dict[str, ModelInfo]) -> None:
        """The routing table changed: waiters use its backends (new ones, more room) now."""
        for name, queue in self.queues.items():
            current = models.get(name)
            if current is None or not queue.depth:
                continue
            queue.model = current
            for _, waiter in queue.waiting():
                waiter.follow(current)
        self.dispatch_all()

    def depth(self, model_name: str) -> int:
        queue = self.queues.get(model_name)
        return queue.depth if queue else 0

    def _choose(
        self, model: ModelInfo, request: RouteRequest, exclude: frozenset[int], rank: int = 0
    ) -> BackendInfo | None:
        now = self.clock()
        room = {
            b.id: b
            for b in model.backends
            if b.id not in exclude
            and self.in_flight.get(b.id, 0) < b.max_concurrency
            and (rank not in IDLE_ONLY or self._idle_room(b))
            and self.breaker(b.id).available(now)
        }
        if not room:
            return None
        candidates = [Candidate(i, self._load(i), self._full(i)) for i in room]
        strategy = self.strategy(model)
        picked = strategy.choose(candidates, request)
        if picked is None:
            return None
        backend = room[picked.backend_id]
        self.in_flight[backend.id] = self.in_flight.get(backend.id, 0) + 1
        self.breaker(backend.id).taken()
        strategy.served(backend.id, request)
        return backend

    def _idle_room(self, backend: BackendInfo) -> bool:
        """Whether batch work may take a slot of `backend`: `headroom` slots stay free
        after it, or, where the backend has no more than that, nothing runs there."""
        slots = backend.max_concurrency
        load = self.engine_load.get(backend.id)
        if load is not None and load.slots_total:
            slots = min(slots, load.slots_total)  # the engine runs no more at once
        # Our own count only: the engine's idle slots are a scrape seconds old, and would
        # keep a line off a slot that the line before it has just freed.
        return self.in_flight.get(backend.id, 0) < max(1, slots - self.headroom)

    def _full(self, backend_id: int) -> bool:
        """Every slot the engine reports is taken by our requests or in its own last count."""
        load = self.engine_load.get(backend_id)
        if load is None or not load.slots_total:
            return False
        busy = max(self.in_flight.get(backend_id, 0), load.slots_total - (load.slots_idle or 0))
        return busy >= load.slots_total

    def _load(self, backend_id: int) -> float:
        """Our own in-flight count, or the engine's report when it sees more (other clients)."""
        in_flight = self.in_flight.get(backend_id, 0)
        load = self.engine_load.get(backend_id)
        return float(in_flight) if load is None else load_score(load, in_flight)
