"""One Ollama replica: start `ollama serve`, get the model in, load it, then mark it ready.

    python -m chungus.engines.ollama.run --name NAME (--pull MODEL | --gguf PATH)
        --port PORT --ready-marker MARKER -- ollama serve

Runs wherever the launcher runs its command (a child process, a Slurm job, a
Ray actor) and writes its progress to the same log as Ollama. The replica's
health path (`GET /v1/models/MARKER`) turns 200 only after the last step:

1. start `ollama serve` (OLLAMA_HOST etc. come from the launch environment); with
   CHUNGUS_OLLAMA_RELAY_KEY set (a replica on another node), Ollama listens on the
   node's loopback and an authenticating relay (relay.py) takes OLLAMA_HOST instead;
2. under a lock on the shared models directory, so two replicas never download
   into it at once: pull MODEL unless it is already there (then name it NAME),
   or upload the GGUF file as a blob unless Ollama has it and create NAME from it;
3. load NAME into memory for good;
4. copy NAME to MARKER (removed again when the replica ends).

A failure (an unknown model, no network, a broken file) stops Ollama and ends
with exit code 1 and one last line saying why, which the launcher reports as the
replica's end. SIGTERM stops Ollama and then the wrapper.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from chungus.engines.ollama.api import OllamaApi, OllamaError, sha256_digest
from chungus.engines.ollama.launch import (
    RELAY_KEY_ENV,
    describe_progress,
    find_binary,
    manifest_path,
    same_model,
)
from chungus.engines.ollama.relay import Relay, loopback_port
from chungus.lib.children import die_with_parent

START_SECONDS = 120.0
LOAD_SECONDS = 1800.0
PROGRESS_SECONDS = 5.0


class Stop(Exception):
    """The launcher asked the replica to stop."""


def say(text: str) -> None:
    print(f"chungus-ollama: {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    models_dir = Path(os.environ.get("OLLAMA_MODELS") or Path.home() / ".ollama" / "models")
    models_dir.mkdir(parents=True, exist_ok=True)
    key = os.environ.pop(RELAY_KEY_ENV, "")  # Ollama itself never sees it
    port = loopback_port() if key else args.port
    env = {**os.environ, "OLLAMA_HOST": f"127.0.0.1:{port}"} if key else None
    try:
        command = [find_binary(args.serve[0]), *args.serve[1:]]
        server = subprocess.Popen(command, env=env, preexec_fn=die_with_parent)
    except OSError as exc:  # not installed (FileNotFoundError says how to fix it), not runnable
        say(f"cannot start {' '.join(args.serve)}: {exc}")
        return 127
    api = OllamaApi(f"http://127.0.0.1:{port}")
    relay: Relay | None = None
    failure = ""
    try:
        if key:
            relay = _start_relay(args.port, api.url, key)
        _wait_running(api, server)
        api.delete(args.ready_marker)  # left by a crashed run of this same launch
        with _models_lock(models_dir):
            if args.pull:
                _pull(api, args.pull, args.name)
            else:
                _create(api, Path(args.gguf), args.name, models_dir)
        say(f"loading {args.name}")
        api.load(args.name, timeout=LOAD_SECONDS)
        api.copy(args.name, args.ready_marker)
        say(f"ready: {args.name} is loaded and served on port {args.port}")
        code = server.wait()
        say(f"ollama serve exited with code {code}")
        return code
    except Stop:
        return 0
    except (OllamaError, OSError, ValueError) as exc:
        failure = str(exc)
        if server.poll() is not None:
            failure = f"ollama serve exited with code {server.returncode} ({failure})"
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):  # a stop now must not cut the cleanup short
            signal.signal(sig, signal.SIG_IGN)
        _stop_server(server)
        if relay is not None:
            relay.stop()
        # The launcher may have stopped Ollama already (Slurm and the local launcher signal
        # the whole group), so the marker goes from disk, not through the API.
        _forget(manifest_path(models_dir, args.ready_marker))
        if failure:
            say(failure)  # last, after Ollama's own shutdown lines: the launcher shows the tail


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--name", required=True, help="the model name clients use")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pull", help="a model in Ollama's library, e.g. llama3.2:1b")
    source.add_argument("--gguf", help="a GGUF file to create the model from")
    parser.add_argument("--port", type=int, required=True, help="where ollama serve listens")
    parser.add_argument("--ready-marker", required=True)
    parser.add_argument("serve", nargs=argparse.REMAINDER, help="-- ollama serve")
    args = parser.parse_args(argv)
    args.serve = [part for part in args.serve if part != "--"] or ["ollama", "serve"]
    return args


def _start_relay(port: int, upstream: str, key: str) -> Relay:
    """The relay on OLLAMA_HOST's address (the network), in front of Ollama on loopback."""
    host = os.environ.get("OLLAMA_HOST", "0.0.0.0").rpartition(":")[0] or "0.0.0.0"
    relay = Relay(host, port, upstream, key)
    relay.start()
    say(f"Ollama listens on 127.0.0.1 only; port {port} is its relay, for CHUNGUS's key")
    return relay


def _pull(api: OllamaApi, model: str, name: str) -> None:
    if api.has_model(model):
        say(f"{model} is already in the models directory; not pulling it")
    else:
        say(f"pulling {model}")
        try:
            _log_progress(model, api.pull(model))
        except OllamaError as exc:
            raise OllamaError(f"Ollama could not pull {model!r}: {exc}") from None
    if not same_model(model, name):
        api.copy(model, name)


def _create(api: OllamaApi, path: Path, name: str, models_dir: Path) -> None:
    if not path.is_file():
        raise OllamaError(f"model file {path} does not exist")
    digest = _digest(path, models_dir / ".chungus-digests.json")
    if api.has_blob(digest):
        say(f"Ollama already has {path.name} ({digest[:19]}...)")
    else:
        say(f"uploading {path} ({path.stat().st_size / 1e6:.0f} MB) to Ollama")
        api.push_blob(digest, path)
    file_name = path.name if path.suffix.lower() == ".gguf" else "model.gguf"
    try:
        _log_progress(name, api.create(name, {file_name: digest}))
    except OllamaError as exc:
        raise OllamaError(f"Ollama could not create {name!r} from {path}: {exc}") from None


def _digest(path: Path, cache_path: Path) -> str:
    """The file's SHA-256, remembered by path, size and mtime (hashing GBs takes a while)."""
    stat = path.stat()
    key = str(path.resolve())
    stamp = [stat.st_size, stat.st_mtime_ns]
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(key)
    if isinstance(entry, dict) and entry.get("stamp") == stamp:
        return str(entry["digest"])
    say(f"computing the SHA-256 of {path}")
    digest = sha256_digest(path)
    cache[key] = {"stamp": stamp, "digest": digest}
    with contextlib.suppress(OSError):
        cache_path.write_text(json.dumps(cache))
    return digest


def _log_progress(model: str, events: Iterator[dict[str, object]]) -> None:
    """Log each new status, and a running download at most every few seconds."""
    last_status, last_time = "", 0.0
    for event in events:
        status, now = str(event.get("status", "")), time.monotonic()
        if status != last_status or now - last_time >= PROGRESS_SECONDS:
            say(describe_progress(model, event))
            last_status, last_time = status, now


def _wait_running(api: OllamaApi, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not api.running():
        if server.poll() is not None:
            raise OllamaError(f"ollama serve exited with code {server.returncode} at start")
        if time.monotonic() > deadline:
            raise OllamaError(f"ollama serve did not answer on {api.url} in {START_SECONDS:.0f} s")
        time.sleep(0.1)


@contextlib.contextmanager
def _models_lock(models_dir: Path) -> Iterator[None]:
    with (models_dir / ".chungus-prepare.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another replica preparing models in {models_dir}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(8)  # inside the local launcher's 10 s before it kills the group
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _forget(manifest: Path) -> None:
    with contextlib.suppress(OSError):
        manifest.unlink()
        manifest.parent.rmdir()


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stop


if __name__ == "__main__":
    sys.exit(main())
