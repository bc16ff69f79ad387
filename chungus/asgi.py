"""ASGI entry point for other servers, e.g. `uvicorn chungus.asgi:application`."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chungus.settings")
django.setup()

from chungus.runtime.build import build_runtime  # noqa: E402  (needs Django set up)
from chungus.runtime.management.commands.serve import with_body_limits  # noqa: E402

# Run it with the limits `chungus serve` sets, e.g. `uvicorn --limit-concurrency 1024
# --timeout-keep-alive 5 chungus.asgi:application` (see CHUNGUS_LIMIT_CONCURRENCY).
app, runtime = build_runtime()
application = with_body_limits(app)
