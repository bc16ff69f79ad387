"""Starting real CHUNGUS and llama-server processes for tests and benchmarks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chungus.engines.llamacpp.server import (
    LlamaServerOptions,
    llama_server_binary,
    llama_server_command,
)
from chungus.engines.packaged import packaged_gguf
from chungus.fleet.launchers.local import free_port

CHUNGUS = Path(sys.executable).with_name("chungus")


def wait_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until GET url answers 200, failing early if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} was up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not up after {timeout} s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15) -> int:
    """SIGTERM a process (and its group), SIGKILL if it lingers; return its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass
class ChungusProcess:
    home: Path
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `chungus ARGS` against this instance's database (`env` added to its own)."""
        result = subprocess.run(
            [str(CHUNGUS), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"chungus {' '.join(args)} failed: {result.stderr or result.stdout}")
        return result

    def create_superuser(self, name: str, password: str = "pw-for-tests") -> None:
        """Create an operator (a superuser) who can sign in with `password`."""
        self.cli(
            "createsuperuser", "--noinput", "--username", name, "--email", f"{name}@example.com",
            env={"DJANGO_SUPERUSER_PASSWORD": password},
        )  # fmt: skip

    def create_users(self, *names: str) -> None:
        """Create ordinary users (no superusers), each with the password pw-NAME-long-enough."""
        made = "; ".join(
            f"User.objects.create_user({name!r}, password='pw-{name}-long-enough')"
            for name in names
        )
        self.cli("shell", "-c", f"from django.contrib.auth.models import User; {made}")

    def create_key(self, name: str, *options: str) -> str:
        secret = (
            self.cli("keys", "create", "--name", name, *options).stdout.strip().splitlines()[-1]
        )
        self.keys[name] = secret
        return secret

    def chat(self, key: str, model: str, timeout: float = 60) -> httpx.Response:
        """Send a tiny chat completion through this instance."""
        return httpx.post(
            f"{self.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
            timeout=timeout,
        )

    def request_log(self, after: int = 0) -> list[sqlite3.Row]:
        """The request log's rows with ids above `after`, oldest first, from this instance's
        own SQLite. The server flushes it every CHUNGUS_LOG_FLUSH_SECONDS (0.2 s here): wait
        for a row, do not sleep for it."""
        with contextlib.closing(sqlite3.connect(self.home / "chungus.sqlite3")) as db:
            db.row_factory = sqlite3.Row
            query = "select * from gateway_requestlog where id > ? order by id"
            return db.execute(query, (after,)).fetchall()

    def last_logged(self) -> int:
        """The id of the request log's last row so far; 0 when it is empty."""
        rows = self.request_log()
        return int(rows[-1]["id"]) if rows else 0

    def start(self, *serve_args: str, ready_timeout: float = 60) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(CHUNGUS), "serve", "--port", str(self.port), *serve_args],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_http(f"{self.url}/readyz", ready_timeout, self.process)

    def stop(self) -> int:
        return stop_process(self.process) if self.process is not None else 0


def one_simulated_gpu(home: Path, memory_mb: int = 1000, count: int = 1) -> Path:
    """A declared inventory giving this host one GPU, or `count` (CHUNGUS_INVENTORY's file)."""
    inventory = home / "inventory.json"
    gpu = {"name": f"Simulated {memory_mb} MB", "memory_mb": memory_mb}
    nodes = [{"name": socket.gethostname(), "gpus": [gpu] * count}]
    inventory.write_text(json.dumps({"nodes": nodes}))
    return inventory


def chungus_instance(home: Path, **env: str) -> ChungusProcess:
    """Prepare (migrate) a CHUNGUS instance with its own home; start it with .start()."""
    home.mkdir(parents=True, exist_ok=True)
    # Each instance has its own SQLite unless the test names a database.
    inherited = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    full_env = {
        **inherited,
        "CHUNGUS_HOME": str(home),
        "CHUNGUS_REFRESH_SECONDS": "0.1",
        "CHUNGUS_LOG_FLUSH_SECONDS": "0.2",
        **env,
    }
    instance = ChungusProcess(home=home, port=free_port(), env=full_env, log=home / "serve.log")
    instance.cli("migrate", "-v", "0")
    return instance


@dataclass
class LlamaServer:
    process: subprocess.Popen[bytes]
    port: int
    alias: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_llama_server(
    home: Path, alias: str = "gemma", swa_full: bool = False, port: int | None = None
) -> LlamaServer:
    """Start a real llama-server with the packaged model (1 thread, 2 slots)."""
    port = port or free_port()
    options = LlamaServerOptions(
        alias=alias, threads=1, parallel=2, context=4096, swa_full=swa_full
    )
    command = llama_server_command(llama_server_binary(), packaged_gguf(home), port, options)
    log = (home / f"llama-{alias}-{port}.log").open("ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/health", 90, process)
    return LlamaServer(process, port, alias)
