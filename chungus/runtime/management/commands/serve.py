"""chungus serve: the whole of CHUNGUS in one process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import uvloop
from django.core.management import call_command
from django.core.management.base import CommandError
from starlette.types import ASGIApp

from chungus.accounts.firstkey import ensure_first_key
from chungus.core.commandline import ChungusCommand, positive_int
from chungus.lib.body_limit import BodyLimit, path_limits
from chungus.lib.request_heads import bounded_head_protocol

JOB_SUBMISSIONS = "/api/jobs/"  # the one path that takes a large body: a structure file


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
        from chungus.runtime.build import build_runtime

        step("preparing the default model" if not options["no_default_model"] else "starting")
        try:
            app, runtime = build_runtime(default_model=not options["no_default_model"])
        except FileNotFoundError as exc:
            raise CommandError(f"{exc} (or run with --no-default-model)") from None
        config = uvicorn.Config(
            with_body_limits(app), host=options["host"], port=options["port"],
            log_level="warning", lifespan="on", access_log=False, **server_limits(),
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
        # The loop is chosen here, not in uvicorn.Config: its `loop` is applied only by
        # uvicorn.run(), and serving from our own coroutine would otherwise get asyncio's.
        with (
            contextlib.suppress(KeyboardInterrupt),
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
        ):
            runner.run(main())
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
        self.stdout.write(banner(base, secret, supervisor is not None, program_name()))


def with_body_limits(app: ASGIApp) -> ASGIApp:
    """The app behind the body limits of settings.py (/v1 and protollm's job API check their
    own: see read_body)."""
    from django.conf import settings

    from chungus.batches.prompt_jobs_api import PATHS
    from chungus.gateway.app import PREFIXES

    limits = path_limits(
        settings.CHUNGUS_MAX_PAGE_BODY_BYTES,
        {JOB_SUBMISSIONS: settings.CHUNGUS_MAX_UPLOAD_BYTES},
        unchecked=PREFIXES + PATHS,
    )
    return BodyLimit(app, limits)


def server_limits() -> dict[str, Any]:
    """uvicorn's bounds on connections and idle keep-alive, and the protocol (httptools) with
    ours on request heads (how long they take, how large they are), from settings."""
    from django.conf import settings

    return {
        "limit_concurrency": settings.CHUNGUS_LIMIT_CONCURRENCY,
        "timeout_keep_alive": settings.CHUNGUS_KEEP_ALIVE_SECONDS,
        "http": bounded_head_protocol(
            settings.CHUNGUS_HEADER_TIMEOUT_SECONDS, settings.CHUNGUS_MAX_HEADER_BYTES
        ),
    }


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


def banner(base: str, secret: str | None, default_model: bool, program: str = "chungus") -> str:
    """What the first run prints: where it serves, the key, an example that works, next steps."""
    from django.conf import settings

    model = settings.CHUNGUS_DEFAULT_MODEL_NAME if default_model else "YOUR_MODEL"
    key = secret or "YOUR_KEY"
    lines = [
        "",
        f"CHUNGUS is serving on {base}  (OpenAI base URL: {base}/v1)",
    ]
    if secret:
        lines.append(f"Your first API key (shown once, copy it now): {secret}")
    else:
        lines.append(
            f"API keys exist already; make another with: {program} keys create --name NAME"
        )
    if default_model:
        lines += [
            "",
            f"The default model, {model}, is Gemma 3 270M *base*: a pretrained model that",
            "continues text and does not follow instructions. It shows that the plumbing works,",
            "not what a good model answers. Try it:",
        ]
    else:
        lines += ["", "Try it:"]
    example = json.dumps(
        {"model": model, "prompt": EXAMPLE_PROMPT, "max_tokens": 12, "temperature": 0}
    )
    lines += [
        f"  curl {base}/v1/completions \\",
        f"    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\",
        f"    -d '{example}'",
        "",
        "Put a real model behind CHUNGUS (from another terminal):",
        f"  a GGUF file:           {program} deploy mine --source /path/to/model.gguf",
        f"  from Ollama's library: {program} deploy llama --engine ollama --source llama3.2:3b",
        f"  on a GPU with vLLM:    {program} deploy qwen --engine vllm"
        " --source Qwen/Qwen2.5-7B-Instruct --gpus 1",
        f"  a server you run:      {program} models add mine --url http://HOST:8080/v1"
        " --upstream-model ID",
        "",
        "Run science on the same GPUs (molecular dynamics with OpenMM; CPU when there is none):",
        f"  {program} jobs submit md --structure villin --ns 0.01 --solvent vacuum",
        f"  {program} jobs show 1 --follow          (then: jobs outputs 1, or {base}/jobs/)",
        "",
        f"Dashboard: {base}/dashboard/   Playground: {base}/playground/   Admin: {base}/admin/",
        f"  sign in as an operator; make one with: {program} createsuperuser",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


EXAMPLE_PROMPT = "Paris is the capital of"


def program_name() -> str:
    """How this command was started (`.venv/bin/chungus` from scripts/run), for the hints."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "chungus":
        return "chungus"
    try:
        return str(Path(os.path.abspath(argv0)).relative_to(Path.cwd()))
    except ValueError:
        return str(argv0)
