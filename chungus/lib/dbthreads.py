"""Database work in background threads: refresh the thread's connection before each unit.

Django refreshes connections around HTTP requests only. A pool thread (sync_to_async with
thread_sensitive=False, a control loop) keeps its connection between units of work, so
after PostgreSQL restarts it would fail on every use until CHUNGUS restarted. Closing
connections that errored or aged out first (and CONN_HEALTH_CHECKS, which pings a reused
one before its first query) makes each unit start on a working connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections

P = ParamSpec("P")
R = TypeVar("R")


def refresh_connections() -> None:
    """Close this thread's connections that errored or aged out (the next query opens a new
    one); never inside a transaction (a test's, or a caller's), which must keep its own."""
    if not any(connections[alias].in_atomic_block for alias in connections):
        close_old_connections()


def fresh_connection(function: Callable[P, R]) -> Callable[P, R]:
    """`function`, run on a connection that is usable (replaced if it errored or aged out)."""

    @wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        refresh_connections()
        return function(*args, **kwargs)

    return call


def off_loop(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`function` made awaitable: run in a pool thread, never on the event loop's."""
    return sync_to_async(function, thread_sensitive=False)
