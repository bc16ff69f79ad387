"""Shared by the routing and failover benchmarks: real llama-servers behind one CHUNGUS."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from harness import Popen, free_port
from overhead import Harness

from chungus.engines.llamacpp.server import (
    LlamaServerOptions,
    llama_server_binary,
    llama_server_command,
)
from chungus.engines.packaged import packaged_gguf

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CHUNGUS = ROOT / ".venv" / "bin" / "chungus"


@dataclass
class Llama:
    """One llama-server we started: its port and command line (to restart it on the same port)."""

    name: str
    port: int
    argv: list[str]
    proc: Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Chungus:
    """`chungus serve` with its home (request log), a client key and the process."""

    home: Path
    url: str
    key: str
    proc: Popen
    admin_key: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}


@dataclass
class Fleet:
    """Starts llama-servers and CHUNGUS through one Processes registry (stopped together)."""

    h: Harness
    models_home: Path
    starts: Counter[str] = field(default_factory=Counter)

    async def start_llama(self, name: str, swa_full: bool, port: int | None = None) -> Llama:
        """Start the packaged model like chungus.testing.processes.start_llama_server does
        (1 thread, 2 slots, 4096 context, --metrics), but in its own process group."""
        port = port or free_port()
        options = LlamaServerOptions(
            alias="gemma", threads=1, parallel=2, context=4096, swa_full=swa_full
        )
        gguf = packaged_gguf(self.models_home)
        argv = list(llama_server_command(llama_server_binary(), gguf, port, options))
        return await self.run_llama(name, port, argv)

    async def run_llama(self, name: str, port: int, argv: list[str], timeout: float = 90) -> Llama:
        """Start (or restart) a llama-server with this command line; return it healthy."""
        self.starts[name] += 1
        log_name = name if self.starts[name] == 1 else f"{name}-{self.starts[name]}"
        proc = self.h.procs.start(log_name, argv)
        url = f"http://127.0.0.1:{port}"
        await self.h.wait_until(log_name, proc, self.h.http_ok(url + "/health"), timeout)
        return Llama(name, port, argv, proc)

    async def cli(self, home: Path, *args: str) -> str:
        """Run `chungus ARGS` against `home`; return its stdout."""
        env = os.environ | {"CHUNGUS_HOME": str(home)}
        self.starts["cli"] += 1
        return await self.h.procs.run(f"cli-{self.starts['cli']}", [str(CHUNGUS), *args], env, 120)

    async def start_chungus(
        self,
        models: dict[str, list[str]],
        routing: dict[str, str],
        env: dict[str, str],
        max_concurrency: int = 0,
    ) -> Chungus:
        """Register `models` (name -> backend URLs) with `routing`, create a key, serve
        (max_concurrency per backend: 0 leaves CHUNGUS's default)."""
        home = self.h.tmp / "chungus-home"
        home.mkdir()
        await self.cli(home, "migrate", "-v", "0")
        for name, urls in models.items():
            for url in urls:
                add = ["models", "add", name, "--url", url + "/v1", "--engine", "llamacpp"]
                add += ["--upstream-model", "gemma", "--routing", routing[name]]
                if max_concurrency:
                    add += ["--max-concurrency", str(max_concurrency)]
                await self.cli(home, *add)
        key = (await self.cli(home, "keys", "create", "--name", "bench")).strip().splitlines()[-1]
        port = free_port()
        full_env = os.environ | {"CHUNGUS_HOME": str(home), **env}
        serve = [str(CHUNGUS), "serve", "--host", "127.0.0.1", "--port", str(port)]
        proc = self.h.procs.start("chungus", [*serve, "--no-default-model"], full_env)
        url = f"http://127.0.0.1:{port}"
        await self.h.wait_until("chungus", proc, self.h.http_ok(url + "/readyz"), 60)
        return Chungus(home, url, key.strip(), proc)

    async def admin_key(self, chungus: Chungus) -> str:
        """A key owned by a superuser, for GET /api/fleet/status."""
        env = os.environ | {
            "CHUNGUS_HOME": str(chungus.home),
            "DJANGO_SUPERUSER_PASSWORD": "bench-" + os.urandom(8).hex(),
        }
        argv = [str(CHUNGUS), "createsuperuser", "--noinput", "--username", "admin"]
        await self.h.procs.run("createsuperuser", [*argv, "--email", "admin@example.com"], env, 120)
        out = await self.cli(chungus.home, "keys", "create", "--name", "adm", "--owner", "admin")
        chungus.admin_key = out.strip().splitlines()[-1].strip()
        return chungus.admin_key


def load_note(before: tuple[float, float, float]) -> str:
    """The 1-minute load average at the start and the end: other work on the machine."""
    return f"load average (1 min) {before[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"


def request_log(home: Path, since: str = "") -> list[dict[str, Any]]:
    """Rows of CHUNGUS's request log (oldest first), read-only."""
    db = sqlite3.connect(f"file:{home / 'chungus.sqlite3'}?mode=ro", uri=True, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        rows = db.execute(
            "SELECT created_at, model, backend, status, attempts, stream, latency_ms, ttft_ms,"
            " prompt_tokens, completion_tokens, error_type FROM gateway_requestlog"
            " WHERE created_at >= ? ORDER BY created_at",
            (since,),
        ).fetchall()
    finally:
        db.close()
    return [dict(r) for r in rows]


async def metric(session: aiohttp.ClientSession, url: str, name: str) -> float:
    """One sample's value from a llama-server's /metrics (0 when absent)."""
    async with session.get(url + "/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def text_table(header: str, table: list[list[str]]) -> str:
    """Align rows under a |-separated header for a terminal."""
    lines = [header.split("|"), *table]
    widths = [max(len(r[i]) for r in lines) for i in range(len(lines[0]))]
    text = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in lines]
    return "\n".join([text[0], "-" * len(text[0]), *text[1:]])


def markdown_table(header: str, table: list[list[str]]) -> str:
    """The same rows as a markdown table."""
    lines = [f"| {header.replace('|', ' | ')} |", "|---" + "|---:" * (header.count("|")) + "|"]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in table)])


def backend_split(rows: list[dict[str, Any]], model: str, llamas: list[Llama]) -> str:
    """How a model's requests were spread over the servers (from CHUNGUS's request log)."""
    counts = Counter(r["backend"] for r in rows if r["model"] == model)
    names = {ll.url + "/v1": ll.name for ll in llamas}
    return " ".join(f"{names.get(b, b)}:{n}" for b, n in sorted(counts.items()))


def stamp(created_at: str) -> float:
    """A request-log created_at (UTC, as SQLite stores it) as seconds since the epoch."""
    return datetime.fromisoformat(created_at).replace(tzinfo=UTC).timestamp()
