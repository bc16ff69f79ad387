"""Measure the latency, throughput and CPU per request a gateway adds over an instant fake engine.

Targets, measured one at a time in interleaved rounds so machine noise hits all alike:
  direct          the fake upstream itself (bench/fake_upstream.py)
  floor           a bare ASGI + aiohttp proxy (bench/floor_proxy.py), the lower bound
  floor-http1     the same proxy with CHUNGUS's own engine client (chungus.lib.http1)
                  instead of aiohttp: what of CHUNGUS's cost is the client, what the gateway
  chungus         `chungus serve` with a temporary CHUNGUS_HOME (SQLite)
  chungus-limits  the same, the client's key created with rpm/rph/tpm limits it never reaches
  chungus-mapped  the same, the model added with an --upstream-model other than its name
  chungus-pg      the same on a fresh PostgreSQL database (request log included)
  litellm         LiteLLM's proxy (with --litellm), in its own venv

Each CHUNGUS variant is its own `chungus serve` process with its own home, so its CPU
is its own. Modes: nonstream, stream (asking for usage), stream-nousage (no stream_options).

Pinning (--pin, the default with 2+ cores): the load generator (this process) and the fake
upstream share the first core; every proxy target runs under `taskset -c N` on a core of its
own, or, with too few cores, shares the others (on 2 cores all targets are on core 1). That
is fine because they are measured one at a time; a target's own threads (CHUNGUS's
request-log writer) stay on its core, so CPU per request compares at equal CPU. The
PostgreSQL server is not ours: it is not pinned and its CPU is not counted.

--repeat N runs the whole measurement N times on the same processes and reports medians.
Everything listens on 127.0.0.1; every subprocess is stopped, the PostgreSQL database dropped,
on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson
from fake_upstream import CONTENT, stream_text
from harness import (
    Check,
    Pinning,
    Popen,
    Processes,
    cpu_seconds,
    free_port,
    pin_this_process,
    plan_pinning,
    run_main,
)
from report import Cell, Cells, Outcome, Target, report

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MODES = ("nonstream", "stream", "stream-nousage")
NEVER = "1000000000"  # a limit no bench reaches (the columns are 32-bit)
IDLE_SECONDS = 10.0  # how long every target's idle CPU is measured before the cells
# After a group's last round, so the work it deferred (CHUNGUS flushes its request log every
# second) is counted in its cell, not in the next group's time.
SETTLE_SECONDS = 1.5


@dataclass(frozen=True)
class Variant:
    """One path real traffic takes through CHUNGUS: how its key and model are set up."""

    name: str
    key_flags: tuple[str, ...] = ()
    model_flags: tuple[str, ...] = ()
    postgres: bool = False


VARIANTS = {
    v.name: v
    for v in (
        Variant("chungus"),
        Variant("chungus-limits", key_flags=("--rpm", NEVER, "--rph", NEVER, "--tpm", NEVER)),
        Variant("chungus-mapped", model_flags=("--upstream-model", "fake-upstream")),
        Variant("chungus-pg", postgres=True),
    )
}


@dataclass
class Harness:
    """What every start-up step needs."""

    args: argparse.Namespace
    procs: Processes
    session: aiohttp.ClientSession
    tmp: Path
    pinning: Pinning = field(default_factory=Pinning)
    idle_cpu: dict[str, float] = field(default_factory=dict)  # target -> CPU s/s when idle

    async def wait_until(self, name: str, proc: Popen, check: Check, timeout: float) -> None:
        """Poll `check` until it passes; fail loudly if the process dies or time runs out."""
        deadline, why = time.monotonic() + timeout, "no answer"
        reason: str | None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.procs.tail(name)}")
            try:
                if (reason := await check()) is None:
                    return
                why = reason
            except (aiohttp.ClientError, TimeoutError) as exc:
                why = repr(exc)
            await asyncio.sleep(0.2)
        raise RuntimeError(
            f"{name} not ready after {timeout:.0f} s ({why}):\n{self.procs.tail(name)}"
        )

    def http_ok(self, url: str) -> Check:
        """A check that GET url answers 200."""

        async def check() -> str | None:
            async with self.session.get(url) as resp:
                return None if resp.status == 200 else f"GET {url}: HTTP {resp.status}"

        return check

    def chat_ok(self, target: Target) -> Check:
        """A check that a chat request in every mode succeeds."""

        async def check() -> str | None:
            for mode in MODES:
                if error := (await one_request(self.session, target, mode, self.args.chunks)).error:
                    return f"chat ({mode}): {error}"
            return None

        return check


def chat_payload(mode: str) -> bytes:
    """The request body every target receives in this mode."""
    body: dict[str, Any] = {
        "model": "fake",
        "messages": [{"role": "user", "content": "Hi."}],
        "max_tokens": 32,
    }
    if mode == "stream":
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    elif mode == "stream-nousage":
        body["stream"] = True
    return orjson.dumps(body)


async def read_stream(
    resp: aiohttp.ClientResponse, start: float, chunks: int, want_usage: bool
) -> tuple[float | None, str | None]:
    """Read an SSE answer; return time to first content and what was wrong with it, if anything.

    A usage chunk is required only when the client asked for one (`want_usage`).
    """
    ttft: float | None = None
    text, usage = [], False
    async for line in resp.content:
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        event = orjson.loads(data)
        choices = event.get("choices")
        if content := choices[0].get("delta", {}).get("content") if choices else None:
            ttft = ttft if ttft is not None else time.perf_counter() - start
            text.append(content)
        usage = usage or bool(event.get("usage"))
    else:
        return ttft, "no [DONE]"
    if "".join(text) != stream_text(chunks):
        return ttft, "wrong stream content"
    return ttft, None if usage or not want_usage else "no usage chunk"


async def one_request(
    session: aiohttp.ClientSession, target: Target, mode: str, chunks: int
) -> Outcome:
    """Send one chat request and check the answer is whole."""
    start = time.perf_counter()
    ttft: float | None = None
    error: str | None = None
    headers = target.headers | {"Content-Type": "application/json"}
    try:
        url = target.base_url + "/v1/chat/completions"
        async with session.post(url, data=chat_payload(mode), headers=headers) as resp:
            if resp.status != 200:
                error = f"HTTP {resp.status}: {(await resp.read())[:120]!r}"
            elif mode != "nonstream":
                ttft, error = await read_stream(resp, start, chunks, mode == "stream")
            elif orjson.loads(await resp.read())["choices"][0]["message"]["content"] != CONTENT:
                error = "wrong content"
    except (aiohttp.ClientError, TimeoutError, ValueError, LookupError, TypeError) as exc:
        error = type(exc).__name__
    return Outcome(time.perf_counter() - start, ttft, error)


async def run_batch(h: Harness, target: Target, cell: Cell, mode: str, conc: int, n: int) -> None:
    """Send up to n more requests from `conc` workers, within the cell's time cap; add to cell."""
    n = min(n, h.args.requests - len(cell.outcomes))
    deadline = time.perf_counter() + h.args.max_seconds - cell.wall
    if n <= 0 or time.perf_counter() >= deadline:
        cell.capped = cell.capped or n > 0
        return

    async def worker() -> None:
        nonlocal n
        while n > 0 and time.perf_counter() < deadline:
            n -= 1
            cell.outcomes.append(await one_request(h.session, target, mode, h.args.chunks))

    cpu, start = cpu_seconds(target.pid), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(conc, n))))
    cell.wall += time.perf_counter() - start
    cell.cpu += cpu_seconds(target.pid) - cpu if target.shared else 0.0
    cell.capped = cell.capped or n > 0


def wanted_targets(args: argparse.Namespace, database_url: str | None) -> list[str]:
    """The proxy targets this run will start, in order; say on stderr why any is left out."""
    names = ["floor", "floor-http1"]
    if args.skip_chungus:
        print("skipping CHUNGUS (--skip-chungus)", file=sys.stderr)
    elif not Path(args.chungus).exists():
        print(f"skipping CHUNGUS: {args.chungus} does not exist yet", file=sys.stderr)
    else:
        names += [v for v in args.variants if database_url or not VARIANTS[v].postgres]
    return names + (["litellm"] if args.litellm else [])


async def start_targets(h: Harness, names: list[str], database_url: str | None) -> list[Target]:
    """Start the fake upstream and every proxy named; return them ready."""
    py, port = sys.executable, free_port()
    argv = [
        py,
        str(BENCH / "fake_upstream.py"),
        "--port",
        str(port),
        "--chunks",
        str(h.args.chunks),
    ]
    upstream = h.procs.start("upstream", h.pinning.wrap(argv, h.pinning.client))
    direct = Target("direct", f"http://127.0.0.1:{port}", {}, upstream.pid, shared=True)
    await h.wait_until("upstream", upstream, h.http_ok(direct.base_url + "/health"), 30)

    port = free_port()
    argv = [py, str(BENCH / "floor_proxy.py"), "--port", str(port), "--upstream", direct.base_url]
    floor_proc = h.procs.start("floor", h.pinning.target_argv("floor", argv))
    floor = Target("floor", f"http://127.0.0.1:{port}", {}, floor_proc.pid)
    await h.wait_until("floor", floor_proc, h.chat_ok(floor), 30)
    port = free_port()
    argv = [*argv[:3], str(port), *argv[4:], "--client", "http1"]
    lean_proc = h.procs.start("floor-http1", h.pinning.target_argv("floor-http1", argv))
    lean = Target("floor-http1", f"http://127.0.0.1:{port}", {}, lean_proc.pid)
    await h.wait_until("floor-http1", lean_proc, h.chat_ok(lean), 30)
    targets = [direct, floor, lean]
    for name in (n for n in names if n in VARIANTS):
        url = database_url if VARIANTS[name].postgres else None
        targets.append(await start_chungus(h, VARIANTS[name], direct.base_url, url))
    if "litellm" in names:
        targets.append(await start_litellm(h, h.args.litellm_venv, direct.base_url))
    return targets


async def start_chungus(
    h: Harness, variant: Variant, upstream: str, database_url: str | None
) -> Target:
    """Register the fake model, create a key and serve CHUNGUS from a fresh CHUNGUS_HOME."""
    chungus, name = str(h.args.chungus), variant.name
    (h.tmp / f"{name}-home").mkdir()
    env = chungus_env(h, name, database_url)
    # `models add` on a fresh home does not migrate by itself (yet); migrating twice is a no-op.
    await h.procs.run(f"{name}-migrate", [chungus, "migrate", "--noinput"], env, 120)
    add = [chungus, "models", "add", "fake", "--url", upstream + "/v1", "--engine", "openai"]
    add += ["--max-concurrency", "1000", *variant.model_flags]
    await h.procs.run(f"{name}-models-add", add, env, 120)
    create = [chungus, "keys", "create", "--name", "bench", *variant.key_flags]
    key = (await h.procs.run(f"{name}-keys-create", create, env, 120)).strip().splitlines()[-1]
    port = free_port()
    serve = [chungus, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-default-model"]
    started = time.monotonic()
    proc = h.procs.start(name, h.pinning.target_argv(name, serve), env)
    headers = {"Authorization": f"Bearer {key.strip()}"}
    target = Target(name, f"http://127.0.0.1:{port}", headers, proc.pid)
    await h.wait_until(name, proc, h.http_ok(target.base_url + "/readyz"), 60)
    await h.wait_until(name, proc, h.chat_ok(target), 60 - (time.monotonic() - started))
    print(f"{name} ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return target


def chungus_env(h: Harness, name: str, database_url: str | None) -> dict[str, str]:
    """The environment of the CHUNGUS target `name`: its own home, and SQLite there unless
    it is given a PostgreSQL database."""
    env = os.environ | {"CHUNGUS_HOME": str(h.tmp / f"{name}-home")}
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@contextlib.contextmanager
def fresh_database(admin_url: str, keep: bool) -> Iterator[str | None]:
    """Create chungus_bench_<random> on admin_url's server and yield its URL; drop it after.

    Yields None (and says why) when PostgreSQL cannot be reached, so a run without
    it still measures the other targets.
    """
    parts = urlsplit(admin_url)
    server = f"{parts.hostname}:{parts.port or 5432}"  # no password on screen
    try:
        import psycopg
    except ImportError:
        print("skipping chungus-pg: psycopg is not installed", file=sys.stderr)
        yield None
        return
    name = f"chungus_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"skipping chungus-pg: cannot create a database on {server}: {exc}", file=sys.stderr)
        yield None
        return
    print(f"chungus-pg: database {name} on {server}", file=sys.stderr)
    try:
        yield urlunsplit(parts._replace(path="/" + name))
    finally:
        if keep:
            print(f"kept PostgreSQL database {name} on {server}", file=sys.stderr)
        else:
            try:
                with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except psycopg.Error as exc:
                print(f"could not drop database {name} on {server}: {exc}", file=sys.stderr)


async def start_litellm(h: Harness, venv: Path, upstream: str) -> Target:
    """Install LiteLLM's proxy in its own venv if needed and serve the fake model through it."""
    litellm = venv / "bin" / "litellm"
    if not litellm.exists():
        print(f"installing litellm[proxy] into {venv} (once; minutes)", file=sys.stderr)
        env = dict(os.environ)
        await h.procs.run("litellm-venv", [sys.executable, "-m", "venv", str(venv)], env, 300)
        await h.procs.run(
            "litellm-pip", [str(venv / "bin" / "pip"), "install", "litellm[proxy]"], env, 1800
        )
    config = h.tmp / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: fake\n    litellm_params:\n"
        f"      model: openai/fake\n      api_base: {upstream}/v1\n      api_key: x\n"
    )
    port = free_port()
    # No database and no master key, as measured in ENGINES.md; 1.108+ needs the last flag for that.
    env = os.environ | {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
    }
    env.pop("DATABASE_URL", None)
    started = time.monotonic()
    argv = [str(litellm), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    proc = h.procs.start("litellm", h.pinning.target_argv("litellm", argv), env)
    target = Target("litellm", f"http://127.0.0.1:{port}", {}, proc.pid, slow=True)
    await h.wait_until("litellm", proc, h.chat_ok(target), 180)
    print(f"LiteLLM ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return target


async def measure_once(h: Harness, targets: list[Target], run: str) -> Cells:
    """Run every (mode, concurrency) cell in interleaved rounds across the targets; slow
    targets (LiteLLM) in rounds of their own after the others', so that their minutes do
    not stretch the cells whose idle CPU is subtracted (see measure_group)."""
    cells: Cells = {}
    groups = [[t for t in targets if not t.slow], [t for t in targets if t.slow]]
    for mode in h.args.modes:
        for conc in h.args.concurrency:
            row = {t.name: cells.setdefault((mode, conc, t.name), Cell()) for t in targets}
            for group in filter(None, groups):
                await measure_group(h, group, row, (mode, conc), run)
    return cells


async def measure_group(
    h: Harness, group: list[Target], row: dict[str, Cell], cell: tuple[str, int], run: str
) -> None:
    """One cell's rounds for a group of targets, interleaved so machine noise hits all alike.

    CPU is counted over the whole group's rounds, so work a gateway defers past its own
    batches still counts, less what the target spends idle anyway (its background loops)
    while the others are measured.
    """
    per_round = math.ceil(h.args.requests / h.args.rounds)
    (mode, conc), slow = cell, ", ".join(t.name for t in group if t.slow)
    cpu_before = {t.name: cpu_seconds(t.pid) for t in group}
    start = time.perf_counter()
    for rnd in range(h.args.rounds):
        for target in group:
            await run_batch(h, target, row[target.name], mode, conc, per_round)
        done = f"  {run}{mode} c={conc} round {rnd + 1}/{h.args.rounds} done"
        print(f"{done} ({slow})" if slow else done, file=sys.stderr)
    await asyncio.sleep(SETTLE_SECONDS)
    elapsed = time.perf_counter() - start
    for target in group:
        if not target.shared:
            spent = cpu_seconds(target.pid) - cpu_before[target.name]
            others = elapsed - row[target.name].wall
            idle = h.idle_cpu.get(target.name, 0.0) * others
            row[target.name].cpu = max(0.0, spent - idle)


async def idle_rates(targets: list[Target], seconds: float) -> dict[str, float]:
    """CPU seconds per second each target spends with no request: its background loops."""
    before = {t.name: cpu_seconds(t.pid) for t in targets}
    await asyncio.sleep(seconds)
    return {t.name: (cpu_seconds(t.pid) - before[t.name]) / seconds for t in targets}


async def measure(h: Harness, targets: list[Target]) -> list[Cells]:
    """Warm every target up once, then measure everything --repeat times on the same processes."""
    top = max(h.args.concurrency)
    for target in targets:  # warm-up: open connections, fill caches; not counted
        for mode in h.args.modes:
            await run_batch(h, target, Cell(), mode, top, 2 * top)
    h.idle_cpu = await idle_rates([t for t in targets if not t.shared], IDLE_SECONDS)
    rates = ", ".join(f"{name} {rate * 1e3:.1f}" for name, rate in h.idle_cpu.items())
    print(f"idle CPU, ms per second (subtracted while others are measured): {rates}",
          file=sys.stderr)  # fmt: skip
    n = h.args.repeat
    return [await measure_once(h, targets, f"run {i + 1}/{n} " if n > 1 else "") for i in range(n)]


async def run(args: argparse.Namespace, procs: Processes, tmp: Path) -> None:
    """Start everything, measure, report (run_main makes SIGINT and SIGTERM cancel it)."""
    with contextlib.ExitStack() as stack:
        pg = "chungus-pg" in args.variants and not args.skip_chungus
        database_url = (
            stack.enter_context(fresh_database(args.database_url, args.keep_temp)) if pg else None
        )
        names = wanted_targets(args, database_url)
        pinning = plan_pinning(os.sched_getaffinity(0), names, args.pin)
        args.pinned = pinning.on
        print(pinning.describe(), file=sys.stderr)
        if pinning.on:
            pin_this_process(pinning.client)
        timeout = aiohttp.ClientTimeout(total=args.request_timeout)
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, auto_decompress=False
        ) as session:
            h = Harness(args, procs, session, tmp, pinning)
            # Stop the servers before their database is dropped (the stack unwinds in reverse).
            stack.callback(procs.stop_all)
            targets = await start_targets(h, names, database_url)
            print(f"measuring {', '.join(t.name for t in targets)}", file=sys.stderr)
            cells = await measure(h, targets)
    report(cells, targets, args, pinning.describe())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 64],
        metavar="LIST",
        help="clients at once, a comma list (default 1,64; the checks read c=1 and c=64)",
    )
    lists = (("--modes", MODES, ""), ("--variants", VARIANTS, "CHUNGUS targets, "))
    for flag, names, what in lists:
        add(
            flag,
            type=lambda s: s.split(","),
            default=list(names),
            metavar="LIST",
            help=f"{what}a comma list of {', '.join(names)} (default all)",
        )
    add(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="measure everything N times on the same processes; report medians (default 1)",
    )
    add(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="load generator and fake upstream on the first core, each target on another "
        "(default: on with 2+ cores)",
    )
    add(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        metavar="URL",
        help="PostgreSQL server for chungus-pg, which gets a fresh chungus_bench_* database "
        "on it, dropped at the end (default %(default)s)",
    )
    add("--requests", type=int, default=1000, help="per target per cell (default 1000)")
    add("--rounds", type=int, default=4, help="interleaved rounds per cell (default 4)")
    add("--chunks", type=int, default=20, help="content chunks per stream (default 20)")
    add("--max-seconds", type=float, default=60, help="time cap per target per cell (default 60)")
    add("--request-timeout", type=float, default=30, help="seconds per request (default 30)")
    add(
        "--chungus",
        default=str(ROOT / ".venv" / "bin" / "chungus"),
        help="the chungus executable (default %(default)s)",
    )
    add("--skip-chungus", action="store_true", help="measure direct and floor (and litellm) only")
    add("--litellm", action="store_true", help="also measure LiteLLM's proxy (installs it once)")
    venv = ROOT / "bench" / ".venv-litellm"
    add(
        "--litellm-venv",
        type=lambda s: ROOT / s,
        default=venv,
        help="LiteLLM's venv, relative to the repository (reused if present; default %(default)s)",
    )
    add("--markdown", action="store_true", help="also print a markdown block for bench/RESULTS.md")
    add(
        "--keep-temp",
        action="store_true",
        help="keep logs, the CHUNGUS homes and the PostgreSQL database; print where",
    )
    args = parser.parse_args(argv)
    if bad := set(args.modes) - set(MODES):
        parser.error(f"unknown modes: {', '.join(sorted(bad))}")
    if bad := set(args.variants) - set(VARIANTS):
        parser.error(f"unknown variants: {', '.join(sorted(bad))}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main() -> None:
    run_main(parse_args, run)


if __name__ == "__main__":
    main()
