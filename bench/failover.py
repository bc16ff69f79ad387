"""Failover under load: SIGKILL one of two llama-servers behind CHUNGUS, restart it, measure.

Two real llama-servers (the packaged Gemma 3 270M, 1 thread, 2 slots) serve one model
`gemma` through `chungus serve` with CHUNGUS_HEALTH_INTERVAL=1 (one active health probe a
second). `--clients` clients loop on short chat requests (every `--stream-every`th one a
stream) for `--duration` seconds. At `--kill-at` seconds backend A is killed with SIGKILL;
at `--restart-at` it is started again with the same command line on the same port.

What it reports, per window (before the kill, while A is down, after the restart):
requests sent, succeeded, failed (non-200, a transport error, or a stream that stopped
without [DONE] and without an error event), streams cut with a clear error event (the
honest outcome for a stream whose engine died mid-answer), and requests CHUNGUS retried on
the other backend (attempts > 1 in its request log). And on a timeline: when CHUNGUS
marked A unhealthy (GET /api/fleet/status, polled), the last request sent to A after the
kill, when the restarted server was up, when CHUNGUS marked it healthy again and the first
request it served successfully.

Everything listens on 127.0.0.1; every process is started in its own process group and
stopped on exit, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from failover_report import (
    Outcome,
    Timeline,
    report,
)
from harness import Processes, run_main
from llama_servers import (
    Chungus,
    Fleet,
    Llama,
    load_note,
    request_log,
)
from overhead import Harness

HEALTH_INTERVAL = 1.0


def body(stream: bool, n: int) -> bytes:
    """A short chat request; `n` varies the prompt a little."""
    payload: dict[str, Any] = {
        "model": "gemma",
        "messages": [{"role": "user", "content": f"Say hello to visitor number {n}."}],
        "max_tokens": 8,
    }
    if stream:
        payload |= {"stream": True, "stream_options": {"include_usage": True}}
    return orjson.dumps(payload)


async def read_stream(resp: aiohttp.ClientResponse) -> tuple[str, str]:
    """Read an SSE answer to its end: ("ok", ""), ("error event", why) or ("cut", why)."""
    async for line in resp.content:
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            return "ok", ""
        event = orjson.loads(data)
        if isinstance(event, dict) and "error" in event:
            error = event["error"]
            why = error.get("code") or error.get("type") if isinstance(error, dict) else error
            return "error event", f"{why}: {str(error.get('message', ''))[:90]}"
    return "cut", "stream ended without [DONE] or an error event"


async def one(session: aiohttp.ClientSession, chungus: Chungus, stream: bool, n: int) -> Outcome:
    """Send one request and classify what came back."""
    start = time.time()
    status, result, detail = 0, "transport", ""
    try:
        url = chungus.url + "/v1/chat/completions"
        async with session.post(url, data=body(stream, n), headers=chungus.headers) as resp:
            status = resp.status
            if status != 200:
                result, detail = "http", (await resp.read())[:200].decode(errors="replace")
            elif stream:
                result, detail = await read_stream(resp)
            else:
                answer = orjson.loads(await resp.read())
                result = "ok" if answer["choices"][0]["message"] is not None else "http"
    except (aiohttp.ClientError, TimeoutError, ValueError, LookupError, TypeError) as exc:
        result, detail = ("cut" if status == 200 else "transport"), f"{type(exc).__name__}: {exc}"
    return Outcome(start, time.time(), stream, status, result, detail)


async def clients(
    session: aiohttp.ClientSession, chungus: Chungus, args: argparse.Namespace, until: float
) -> list[Outcome]:
    """`--clients` loops of back-to-back requests until `until` (wall clock)."""
    outcomes: list[Outcome] = []
    counter = 0

    async def loop() -> None:
        nonlocal counter
        while time.time() < until:
            counter += 1
            stream = counter % args.stream_every == 0
            outcomes.append(await one(session, chungus, stream, counter))

    await asyncio.gather(*(loop() for _ in range(args.clients)))
    return outcomes


def recorded_health(home: Path, url: str) -> str:
    """The health CHUNGUS stored for a backend (what `chungus models list` shows)."""
    db = sqlite3.connect(f"file:{home / 'chungus.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute("SELECT health FROM fleet_backend WHERE url = ?", (url,)).fetchone()
    finally:
        db.close()
    return str(row[0]) if row else "?"


async def watch_health(
    session: aiohttp.ClientSession, chungus: Chungus, url: str, timeline: Timeline
) -> None:
    """Every 0.2 s, note each change of backend `url`'s live health (GET /api/fleet/status)
    and of the health stored in the database."""
    headers = {"Authorization": f"Bearer {chungus.admin_key}"}
    last = stored = ""
    while True:
        with contextlib.suppress(sqlite3.Error):
            now = recorded_health(chungus.home, url)
            if now != stored:
                stored = now
                timeline.recorded.append((time.time(), now))
        try:
            async with session.get(chungus.url + "/api/fleet/status", headers=headers) as resp:
                status = await resp.json() if resp.status == 200 else {}
            for model in status.get("models", []):
                for backend in model["backends"]:
                    if backend["url"] == url and backend["health"] != last:
                        last = backend["health"]
                        timeline.health.append((time.time(), last, backend["reason"]))
        except (aiohttp.ClientError, TimeoutError, ValueError):
            pass
        await asyncio.sleep(0.2)


async def kill_and_restart(
    fleet: Fleet, victim: Llama, args: argparse.Namespace, t: Timeline
) -> None:
    """SIGKILL the victim at --kill-at, start it again on its port at --restart-at."""
    await asyncio.sleep(max(0.0, t.start + args.kill_at - time.time()))
    os.kill(victim.proc.pid, signal.SIGKILL)
    t.kill = time.time()
    while victim.proc.poll() is None:
        await asyncio.sleep(0.01)
    await asyncio.sleep(max(0.0, t.start + args.restart_at - time.time()))
    t.restart = time.time()
    for attempt in range(5):
        try:
            await fleet.run_llama(victim.name, victim.port, victim.argv)
            break
        except RuntimeError:  # the port may not be free yet; try again shortly
            if attempt == 4:
                raise
            await asyncio.sleep(0.5)
    t.up = time.time()


async def run(args: argparse.Namespace, procs: Processes, tmp: Path) -> None:
    """Start the fleet and CHUNGUS, load it, kill and restart A, report."""
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        h = Harness(args, procs, session, tmp)
        fleet = Fleet(h, tmp)
        a, b = [await fleet.start_llama(name, swa_full=False) for name in "AB"]
        env = {
            "CHUNGUS_HEALTH_INTERVAL": str(HEALTH_INTERVAL),
            "CHUNGUS_LOG_FLUSH_SECONDS": "0.2",
        }
        chungus = await fleet.start_chungus({"gemma": [a.url, b.url]}, {"gemma": args.routing}, env)
        await fleet.admin_key(chungus)
        for n in range(4):  # warm both servers up through CHUNGUS
            warm = await one(session, chungus, n % 2 == 1, n)
            if warm.result != "ok":
                raise RuntimeError(f"warm-up request failed: {warm.result} {warm.detail}")
        await asyncio.sleep(1.0)
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        load = os.getloadavg()
        t = Timeline(start=time.time())
        watcher = asyncio.create_task(watch_health(session, chungus, a.url + "/v1", t))
        chaos = asyncio.create_task(kill_and_restart(fleet, a, args, t))
        outcomes = await clients(session, chungus, args, t.start + args.duration)
        t.end = time.time()
        await chaos
        watcher.cancel()
        await asyncio.sleep(1.0)  # the request log is written every 0.2 s
        rows = request_log(chungus.home, since)
    t.notes.append(load_note(load))
    names = {a.url + "/v1": "A", b.url + "/v1": "B"}
    report(args, outcomes, rows, t, a, names, HEALTH_INTERVAL)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--clients", type=int, default=4, help="concurrent clients (default 4)")
    add("--duration", type=float, default=40, help="seconds of load (default 40)")
    add("--kill-at", type=float, default=10, help="seconds in when A is killed (default 10)")
    add("--restart-at", type=float, default=25, help="seconds in when A restarts (default 25)")
    add("--stream-every", type=int, default=3, help="every Nth request streams (default 3)")
    add(
        "--routing",
        default="least-outstanding",
        choices=("least-outstanding", "round-robin", "cache-affinity"),
        help="the model's routing (default least-outstanding, CHUNGUS's default)",
    )
    add("--request-timeout", type=float, default=60, help="seconds per request (default 60)")
    add("--markdown", action="store_true", help="also print a markdown block for bench/RESULTS.md")
    add("--keep-temp", action="store_true", help="keep logs and CHUNGUS_HOME; print where")
    args = parser.parse_args(argv)
    if not 0 < args.kill_at < args.restart_at < args.duration:
        parser.error("need 0 < --kill-at < --restart-at < --duration")
    if args.clients < 1 or args.stream_every < 1:
        parser.error("--clients and --stream-every must be at least 1")
    return args


if __name__ == "__main__":
    run_main(parse_args, run)
