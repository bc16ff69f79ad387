"""ASGI entry point for servers other than `chungus serve` (e.g. `uvicorn chungus.asgi:application`)."""

from chungus.runtime import build_runtime

application, runtime = build_runtime()
