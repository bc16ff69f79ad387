"""chungus serve: the whole of CHUNGUS in one process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError

from chungus.core.commandline import ChungusCommand, positive_int
from chungus.core.firstkey import ensure_first_key


class Command(ChungusCommand):
    help = (
        "Migrate, then serve the OpenAI-compatible API, the admin and the default model "
        "(the packaged Gemma 3 270M on llama.cpp) in one process. Stops cleanly on Ctrl-C."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=positive_int, default=8000, help="port to listen on")
        parser.add_argument(
            "--no-default-model", action="store_true", help="do not start the packaged model"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn

        step = Progress(self.stdout)
        step("migrating the database")
        call_command("migrate", verbosity=0, interactive=False)
        secret = ensure_first_key()
        from chungus.runtime import build_runtime

        step("preparing the default model" if not options["no_default_model"] else "starting")
        try:
            app, runtime = build_runtime(default_model=not options["no_default_model"])
        except FileNotFoundError as exc:
            raise CommandError(f"{exc} (or run with --no-default-model)") from None
        config = uvicorn.Config(
            app, host=options["host"], port=options["port"], log_level="warning",
            lifespan="on", http="httptools", loop="uvloop", access_log=False,
        )  # fmt: skip
        server = uvicorn.Server(config)
        base = f"http://{options['host']}:{options['port']}"

        async def main() -> None:
            watcher = asyncio.create_task(self._announce(runtime, step, base, secret))
            try:
                await server.serve()
            finally:
                watcher.cancel()

        # uvicorn handles SIGINT/SIGTERM itself, shuts down cleanly, then re-raises
        # the signal to the handler it found: make that an ordinary, successful exit.
        signal.signal(signal.SIGTERM, _interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
        if not server.started:
            raise CommandError(f"could not listen on {options['host']}:{options['port']}")
        self.stdout.write("CHUNGUS stopped.")

    async def _announce(self, runtime: Any, step: Progress, base: str, secret: str | None) -> None:
        supervisor = runtime.default_model
        if supervisor is not None:
            step("starting llama-server with the packaged Gemma 3 270M")
            started, last = time.monotonic(), ""
            while not supervisor.ready.is_set():
                status = supervisor.status
                line = f"{status.state}: {status.detail}" if status.detail else status.state
                if line != last:
                    step.detail(line)
                    last = line
                step.tick(time.monotonic() - started)
                await asyncio.sleep(0.5)
            step.done(f"model ready in {time.monotonic() - started:.1f} s")
        self.stdout.write(banner(base, secret, supervisor is not None))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Progress:
    """Numbered steps with elapsed time, so long waits show they are alive."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.count = 0
        self.tty = sys.stdout.isatty()

    def __call__(self, text: str) -> None:
        self.count += 1
        self.out.write(f"[{self.count}] {text}…")

    def detail(self, text: str) -> None:
        self.out.write(f"    {text}")

    def tick(self, elapsed: float) -> None:
        if self.tty:
            sys.stdout.write(f"\r    waiting {elapsed:5.1f} s")
            sys.stdout.flush()

    def done(self, text: str) -> None:
        if self.tty:
            sys.stdout.write("\r")
        self.out.write(f"    {text}")


def banner(base: str, secret: str | None, default_model: bool) -> str:
    from django.conf import settings

    model = settings.CHUNGUS_DEFAULT_MODEL_NAME if default_model else "YOUR_MODEL"
    key = secret or "YOUR_KEY"
    say = [{"role": "user", "content": "Say hello"}]
    example = json.dumps({"model": model, "messages": say, "max_tokens": 32})
    lines = [
        "",
        f"CHUNGUS is serving on {base}  (OpenAI base URL: {base}/v1, admin: {base}/admin/)",
    ]
    if secret:
        lines.append(f"Your first API key (shown once, copy it now): {secret}")
    else:
        lines.append("API keys exist already; make another with: chungus keys create --name NAME")
    lines += [
        "Try it:",
        f"  curl {base}/v1/chat/completions \\",
        f"    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\",
        f"    -d '{example}'",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)
