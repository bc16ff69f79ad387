"""ASGI entry point for other servers, e.g. `uvicorn chungus.asgi:application`."""

from chungus.runtime import build_runtime

application, runtime = build_runtime()
