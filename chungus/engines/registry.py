"""Engine name → Engine: every package under chungus/engines/ with an `engine.py`, plus any
engine registered at run time. Adding an engine is adding its package; nothing else names it.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import Iterator
from functools import cache

import chungus.engines
from chungus.engines.adapter import EngineAdapter
from chungus.engines.base import Engine

_added: dict[str, Engine] = {}  # registered at run time (register()), after the packages


@cache
def _packaged() -> tuple[Engine, ...]:
    found: list[Engine] = []
    for module in pkgutil.iter_modules(chungus.engines.__path__):
        if module.ispkg and module.name != "tests":
            package = importlib.import_module(f"chungus.engines.{module.name}.engine")
            found.extend(package.ENGINES)
    return tuple(found)


def engines() -> list[Engine]:
    """Every engine, in the order people see them listed (by rank, then name)."""
    by_name = {engine.name: engine for engine in (*_packaged(), *_added.values())}
    return sorted(by_name.values(), key=lambda engine: (engine.rank, engine.name))


def names() -> list[str]:
    return [engine.name for engine in engines()]


def by_name() -> dict[str, Engine]:
    return {engine.name: engine for engine in engines()}


def launchable() -> list[Engine]:
    """The engines CHUNGUS can run for a deployment."""
    return [engine for engine in engines() if engine.launchable]


def get(name: str) -> Engine | None:
    return by_name().get(name)


def choices() -> list[tuple[str, str]]:
    """(name, label) of every engine: the choices of Backend.engine and Deployment.engine."""
    return [(engine.name, engine.label) for engine in engines()]


def adapters() -> dict[str, EngineAdapter]:
    """How the gateway speaks to each engine, by name."""
    return {engine.name: engine.adapter for engine in engines()}


def register(engine: Engine) -> None:
    """Add an engine that lives outside chungus/engines/ (a plugin, a test's fake)."""
    _added[engine.name] = engine


def unregister(name: str) -> None:
    _added.pop(name, None)


@contextlib.contextmanager
def registered(engine: Engine) -> Iterator[Engine]:
    """The engine registered for the length of a `with` block."""
    register(engine)
    try:
        yield engine
    finally:
        unregister(engine.name)
