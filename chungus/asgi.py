"""ASGI entry point for other servers, e.g. `uvicorn chungus.asgi:application`."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chungus.settings")
django.setup()

from chungus.runtime.build import build_runtime  # noqa: E402  (needs Django set up)

application, runtime = build_runtime()
