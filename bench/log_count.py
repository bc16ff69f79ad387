"""Every request answered lands in the request log, and the rollups add up to the log.

Starts the fake upstream and `chungus serve` (SQLite, and with PostgreSQL reachable a second
one on a fresh database), sends --requests chat requests at --concurrency (a quarter of them
streamed), then waits for the request log to be flushed and compares, per CHUNGUS:

  rows       request-log rows added  == requests answered (any HTTP status)
  rollups    RequestRollup and KeyRollup requests and prompt tokens, at every period
             == the request log's own count and sum

It prints progress, the rates, and one PASS or FAIL line per check; the exit status is 1 when
any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import aiohttp
from harness import Processes, cpu_seconds, free_port, pin_this_process, plan_pinning, run_main
from overhead import (
    BENCH,
    ROOT,
    VARIANTS,
    Harness,
    chungus_env,
    fresh_database,
    one_request,
    start_chungus,
)
from report import Target

# Run in `chungus shell`: the log's count and prompt-token sum, and the rollups' at each period.
TOTALS = """
import json
from django.db.models import Sum
from chungus.telemetry.models import KeyRollup, RequestLog, RequestRollup
from chungus.telemetry.rollups import PERIODS

def sums(rows):
    got = rows.aggregate(n=Sum("requests"), p=Sum("prompt_tokens"))
    return [got["n"] or 0, got["p"] or 0]

out = {"log": [RequestLog.objects.count(),
               RequestLog.objects.aggregate(p=Sum("prompt_tokens"))["p"] or 0]}
for period in PERIODS:
    out[f"models/{period}"] = sums(RequestRollup.objects.filter(period=period))
    out[f"keys/{period}"] = sums(KeyRollup.objects.filter(period=period))
print(json.dumps(out))
"""


async def totals(h: Harness, name: str, database_url: str | None) -> dict[str, list[int]]:
    env = chungus_env(h, name, database_url)
    out = await h.procs.run(f"{name}-totals", [h.args.chungus, "shell", "-c", TOTALS], env, 120)
    return json.loads(out.strip().splitlines()[-1])


async def send(h: Harness, target: Target, count: int, conc: int) -> int:
    """Send `count` requests from `conc` workers; return how many got an HTTP answer."""
    left, answered, started, step = count, 0, time.perf_counter(), max(1, count // 10)
    cpu = cpu_seconds(target.pid)

    async def worker() -> None:
        nonlocal left, answered
        while left > 0:
            left -= 1
            mode = "stream" if left % 4 == 0 else "nonstream"
            outcome = await one_request(h.session, target, mode, h.args.chunks)
            if outcome.error is None or outcome.error.startswith("HTTP "):
                answered += 1
                if answered % step == 0:
                    print(f"  {target.name}: {answered}/{count}", file=sys.stderr)

    await asyncio.gather(*(worker() for _ in range(conc)))
    wall = time.perf_counter() - started
    cpu = cpu_seconds(target.pid) - cpu
    print(
        f"{target.name}: {answered} answered of {count} in {wall:.1f} s "
        f"({answered / wall:.0f} req/s, {cpu / max(answered, 1) * 1e3:.3f} ms CPU a request)"
    )
    return answered


async def check(h: Harness, target: Target, database_url: str | None) -> bool:
    """One CHUNGUS: its log and rollups before, the requests, and both after."""
    await asyncio.sleep(h.args.settle)  # the readiness probes' rows are written first
    before = await totals(h, target.name, database_url)
    answered = await send(h, target, h.args.requests, h.args.concurrency)
    deadline = time.monotonic() + 120
    while True:
        after = await totals(h, target.name, database_url)
        if after["log"][0] - before["log"][0] >= answered or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    added = after["log"][0] - before["log"][0]
    ok = added == answered
    print(f"{'PASS' if ok else 'FAIL'} {target.name} rows: {added} added, {answered} answered")
    for name, (requests, prompt) in after.items():
        if name == "log":
            continue
        same = [requests, prompt] == after["log"]
        ok = ok and same
        print(
            f"{'PASS' if same else 'FAIL'} {target.name} {name}: {requests} requests, "
            f"{prompt} prompt tokens; the log has {after['log'][0]} and {after['log'][1]}"
        )
    return ok


async def run(args: argparse.Namespace, procs: Processes, tmp: Path) -> None:
    names = ["chungus", *(["chungus-pg"] if args.postgres else [])]
    pinning = plan_pinning(os.sched_getaffinity(0), names, None)
    print(pinning.describe(), file=sys.stderr)
    if pinning.on:
        pin_this_process(pinning.client)
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    database = fresh_database(args.database_url, False) if args.postgres else None
    with database or contextlib.nullcontext() as pg_url:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            h = Harness(args, procs, session, tmp, pinning)
            fake = [str(BENCH / "fake_upstream.py"), "--port", str(args.port)]
            fake += ["--chunks", str(args.chunks)]
            upstream = procs.start(
                "upstream", pinning.wrap([sys.executable, *fake], pinning.client)
            )
            base = f"http://127.0.0.1:{args.port}"
            await h.wait_until("upstream", upstream, h.http_ok(base + "/health"), 30)
            failed = False
            for name in names:
                url = pg_url if VARIANTS[name].postgres else None
                if VARIANTS[name].postgres and url is None:
                    failed = True  # fresh_database said why
                    continue
                target = await start_chungus(h, VARIANTS[name], base, url)
                failed = not await check(h, target, url) or failed
            procs.stop_all()
    if failed:
        raise RuntimeError("a check failed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--requests", type=int, default=100_000, help="requests per CHUNGUS (default 100000)")
    add("--concurrency", type=int, default=64, help="clients at once (default 64)")
    add("--chunks", type=int, default=4, help="content chunks per stream (default 4)")
    add("--settle", type=float, default=3.0, help="seconds to wait before counting (default 3)")
    add("--request-timeout", type=float, default=30, help="seconds per request (default 30)")
    add("--port", type=int, default=0, help="the fake upstream's port (default: a free one)")
    add(
        "--postgres",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also a CHUNGUS on a fresh PostgreSQL database (default on)",
    )
    add(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        metavar="URL",
        help="PostgreSQL server for the second CHUNGUS (default %(default)s)",
    )
    add(
        "--chungus",
        default=str(ROOT / ".venv" / "bin" / "chungus"),
        help="the chungus executable (default %(default)s)",
    )
    add("--keep-temp", action="store_true", help="keep logs and the CHUNGUS homes; print where")
    args = parser.parse_args(argv)
    args.port = args.port or free_port()
    return args


def main() -> None:
    run_main(parse_args, run)


if __name__ == "__main__":
    main()
