"""Measure the latency and throughput a gateway adds on top of an instant fake engine.

Targets, measured in interleaved rounds so machine noise hits all alike:
  direct   the fake upstream itself (bench/fake_upstream.py)
  floor    a bare ASGI + aiohttp proxy (bench/floor_proxy.py), the lower bound
  chungus  `chungus serve` with a temporary CHUNGUS_HOME
  litellm  LiteLLM's proxy (with --litellm), in its own venv

Everything listens on 127.0.0.1; every subprocess is stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from fake_upstream import CONTENT, stream_text
from harness import Check, Popen, Processes, cpu_seconds, free_port, run_main
from report import Cell, Cells, Outcome, Target, report

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MODES = ("nonstream", "stream")


@dataclass
class Harness:
    """What every start-up step needs."""

    args: argparse.Namespace
    procs: Processes
    session: aiohttp.ClientSession
    tmp: Path

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
        """A check that a non-stream and a stream chat request both succeed."""

        async def check() -> str | None:
            for stream in (False, True):
                if error := (
                    await one_request(self.session, target, stream, self.args.chunks)
                ).error:
                    return f"chat (stream={stream}): {error}"
            return None

        return check


def chat_payload(stream: bool) -> bytes:
    """The request body every target receives."""
    body: dict[str, Any] = {
        "model": "fake",
        "messages": [{"role": "user", "content": "Hi."}],
        "max_tokens": 32,
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return orjson.dumps(body)


async def read_stream(
    resp: aiohttp.ClientResponse, start: float, chunks: int
) -> tuple[float | None, str | None]:
    """Read an SSE answer; return time to first content and what was wrong with it, if anything."""
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
    return ttft, None if usage else "no usage chunk"


async def one_request(
    session: aiohttp.ClientSession, target: Target, stream: bool, chunks: int
) -> Outcome:
    """Send one chat request and check the answer is whole."""
    start = time.perf_counter()
    ttft: float | None = None
    error: str | None = None
    headers = target.headers | {"Content-Type": "application/json"}
    try:
        url = target.base_url + "/v1/chat/completions"
        async with session.post(url, data=chat_payload(stream), headers=headers) as resp:
            if resp.status != 200:
                error = f"HTTP {resp.status}: {(await resp.read())[:120]!r}"
            elif stream:
                ttft, error = await read_stream(resp, start, chunks)
            elif orjson.loads(await resp.read())["choices"][0]["message"]["content"] != CONTENT:
                error = "wrong content"
    except (aiohttp.ClientError, TimeoutError, ValueError, LookupError, TypeError) as exc:
        error = type(exc).__name__
    return Outcome(time.perf_counter() - start, ttft, error)


async def run_batch(
    h: Harness, target: Target, cell: Cell, stream: bool, conc: int, n: int
) -> None:
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
            cell.outcomes.append(await one_request(h.session, target, stream, h.args.chunks))

    cpu, start = cpu_seconds(target.pid), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(conc, n))))
    cell.wall += time.perf_counter() - start
    cell.cpu += cpu_seconds(target.pid) - cpu if target.shared else 0.0
    cell.capped = cell.capped or n > 0


async def start_targets(h: Harness) -> list[Target]:
    """Start the fake upstream and every proxy asked for; return them ready."""
    py, port = sys.executable, free_port()
    argv = [
        py,
        str(BENCH / "fake_upstream.py"),
        "--port",
        str(port),
        "--chunks",
        str(h.args.chunks),
    ]
    upstream = h.procs.start("upstream", argv)
    direct = Target("direct", f"http://127.0.0.1:{port}", {}, upstream.pid, shared=True)
    await h.wait_until("upstream", upstream, h.http_ok(direct.base_url + "/health"), 30)

    port = free_port()
    argv = [py, str(BENCH / "floor_proxy.py"), "--port", str(port), "--upstream", direct.base_url]
    floor_proc = h.procs.start("floor", argv)
    floor = Target("floor", f"http://127.0.0.1:{port}", {}, floor_proc.pid)
    await h.wait_until("floor", floor_proc, h.chat_ok(floor), 30)
    targets = [direct, floor]

    if h.args.skip_chungus:
        print("skipping CHUNGUS (--skip-chungus)", file=sys.stderr)
    elif not Path(h.args.chungus).exists():
        print(f"skipping CHUNGUS: {h.args.chungus} does not exist yet", file=sys.stderr)
    else:
        targets.append(await start_chungus(h, Path(h.args.chungus), direct.base_url))
    if h.args.litellm:
        targets.append(await start_litellm(h, h.args.litellm_venv, direct.base_url))
    return targets


async def start_chungus(h: Harness, chungus: Path, upstream: str) -> Target:
    """Register the fake model, create a key and serve CHUNGUS from a fresh CHUNGUS_HOME."""
    home = h.tmp / "chungus-home"
    home.mkdir()
    env = os.environ | {"CHUNGUS_HOME": str(home)}
    # `models add` on a fresh home does not migrate by itself (yet); migrating twice is a no-op.
    await h.procs.run("chungus-migrate", [str(chungus), "migrate", "--noinput"], env, 120)
    add = ["models", "add", "fake", "--url", upstream + "/v1", "--engine", "openai"]
    await h.procs.run(
        "chungus-models-add", [str(chungus), *add, "--max-concurrency", "1000"], env, 120
    )
    created = await h.procs.run(
        "chungus-keys-create", [str(chungus), "keys", "create", "--name", "bench"], env, 120
    )
    key = created.strip().splitlines()[-1].strip()
    port = free_port()
    serve = [
        str(chungus),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-default-model",
    ]
    started = time.monotonic()
    proc = h.procs.start("chungus", serve, env)
    target = Target(
        "chungus", f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}, proc.pid
    )
    await h.wait_until("chungus", proc, h.http_ok(target.base_url + "/readyz"), 60)
    await h.wait_until("chungus", proc, h.chat_ok(target), 60 - (time.monotonic() - started))
    print(f"CHUNGUS ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return target


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
    proc = h.procs.start("litellm", argv, env)
    target = Target("litellm", f"http://127.0.0.1:{port}", {}, proc.pid)
    await h.wait_until("litellm", proc, h.chat_ok(target), 180)
    print(f"LiteLLM ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return target


async def measure(h: Harness, targets: list[Target]) -> Cells:
    """Run every (mode, concurrency) cell in interleaved rounds across the targets."""
    top = max(h.args.concurrency)
    for target in targets:  # warm-up: open connections, fill caches; not counted
        for stream in (False, True):
            await run_batch(h, target, Cell(), stream, top, 2 * top)
    cells: Cells = {}
    per_round = math.ceil(h.args.requests / h.args.rounds)
    for mode in h.args.modes:
        for conc in h.args.concurrency:
            row = {t.name: cells.setdefault((mode, conc, t.name), Cell()) for t in targets}
            # CPU over the whole cell, so work a gateway defers past its own batches still counts.
            cpu_before = {t.name: cpu_seconds(t.pid) for t in targets}
            for rnd in range(h.args.rounds):
                for target in targets:
                    await run_batch(h, target, row[target.name], mode == "stream", conc, per_round)
                print(f"  {mode} c={conc} round {rnd + 1}/{h.args.rounds} done", file=sys.stderr)
            for target in targets:
                if not target.shared:
                    row[target.name].cpu = cpu_seconds(target.pid) - cpu_before[target.name]
    return cells


async def run(args: argparse.Namespace, procs: Processes, tmp: Path) -> None:
    """Start everything, measure, report (run_main makes SIGINT and SIGTERM cancel it)."""
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, auto_decompress=False
    ) as session:
        h = Harness(args, procs, session, tmp)
        targets = await start_targets(h)
        print(f"measuring {', '.join(t.name for t in targets)}", file=sys.stderr)
        cells = await measure(h, targets)
    report(cells, targets, args)


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
        help="default 1,64",
    )
    add(
        "--modes", type=lambda s: s.split(","), default=list(MODES), help="default nonstream,stream"
    )
    add("--requests", type=int, default=1000, help="per target per cell (default 1000)")
    add("--rounds", type=int, default=4, help="interleaved rounds per cell (default 4)")
    add("--chunks", type=int, default=20, help="content chunks per stream (default 20)")
    add("--max-seconds", type=float, default=60, help="time cap per target per cell (default 60)")
    add("--request-timeout", type=float, default=30, help="seconds per request (default 30)")
    add("--chungus", default=str(ROOT / ".venv" / "bin" / "chungus"), help="the chungus executable")
    add("--skip-chungus", action="store_true", help="measure direct and floor (and litellm) only")
    add("--litellm", action="store_true", help="also measure LiteLLM's proxy (installs it once)")
    venv = ROOT / "bench" / ".venv-litellm"
    add("--litellm-venv", type=lambda s: ROOT / s, default=venv, help="reused if present")
    add("--markdown", action="store_true", help="also print a markdown block for bench/RESULTS.md")
    add("--keep-temp", action="store_true", help="keep logs and CHUNGUS_HOME; print where")
    args = parser.parse_args(argv)
    if bad := set(args.modes) - set(MODES):
        parser.error(f"unknown modes: {', '.join(sorted(bad))}")
    return args


def main() -> None:
    run_main(parse_args, run)


if __name__ == "__main__":
    main()
