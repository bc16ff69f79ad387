"""Batch lines beside interactive traffic: what a running batch costs a user, and what the
batch gets done.

One real llama-server (the packaged Gemma 3 270M, 1 thread, 2 slots) behind `chungus serve`.

1. quiet: `--probes` interactive streamed chats, one at a time with `--gap` seconds between
   them (a person at a chat window): time to the first token and to the last.
2. busy: a `--lines`-line batch (chat completions, `max_tokens` `--max-tokens`) is uploaded
   and created with the official openai client; while it runs, the same probes. Then the
   batch is waited for: lines per second from creation to completion.
3. direct: the same lines sent straight to the llama-server by `--direct-clients` clients
   (default 2, its slot count): the most the engine does with nothing in front of it.

It prints the probes' TTFT p50/p99 quiet and busy (and the ratio), the batch's lines/s
against direct (and the ratio), and the batch's request counts. CHUNGUS_BATCH_HEADROOM is
passed through (`--headroom`): 1 (the default) leaves one of the engine's two slots to
interactive requests; 0 lets the batch take both.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import openai
import orjson
from harness import Processes, run_main
from llama_servers import Chungus, Fleet, load_note, markdown_table, text_table
from overhead import Harness

from chungus.lib.looplag import percentile


@dataclass
class Probe:
    ttft_ms: float
    total_ms: float
    ok: bool


def chat(n: int, max_tokens: int, stream: bool) -> dict[str, object]:
    body: dict[str, object] = {
        "model": "gemma",
        "messages": [{"role": "user", "content": f"Write one line about the number {n}."}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    if stream:
        body["stream"] = True
    return body


def batch_file(lines: int, max_tokens: int) -> bytes:
    items = (
        {
            "custom_id": f"line-{n}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": chat(n, max_tokens, False),
        }
        for n in range(lines)
    )
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


async def probe(session: aiohttp.ClientSession, chungus: Chungus, n: int, max_tokens: int) -> Probe:
    """One streamed chat: milliseconds to the first content and to the end."""
    start = time.perf_counter()
    first = 0.0
    body = orjson.dumps(chat(10_000 + n, max_tokens, True))
    try:
        url = chungus.url + "/v1/chat/completions"
        async with session.post(url, data=body, headers=chungus.headers) as resp:
            if resp.status != 200:
                return Probe(0.0, 0.0, False)
            async for line in resp.content:
                if not first and line.startswith(b"data:") and b'"content"' in line:
                    first = time.perf_counter()
    except (aiohttp.ClientError, TimeoutError):
        return Probe(0.0, 0.0, False)
    end = time.perf_counter()
    return Probe(((first or end) - start) * 1000, (end - start) * 1000, True)


async def probes(
    session: aiohttp.ClientSession,
    chungus: Chungus,
    args: argparse.Namespace,
    busy: asyncio.Event | None,
) -> list[Probe]:
    """`--probes` probes, `--gap` s apart; with `busy`, only while it stays set."""
    found: list[Probe] = []
    for n in range(args.probes):
        if busy is not None and not busy.is_set():
            break
        found.append(await probe(session, chungus, n, args.max_tokens))
        await asyncio.sleep(args.gap)
    return found


async def run_batch(
    client: openai.AsyncOpenAI, args: argparse.Namespace, running: asyncio.Event
) -> tuple[float, dict[str, int], str]:
    """Upload and create the batch, wait for it: (seconds from creation to its end, its
    request counts, its final status). `running` is set while it runs."""
    uploaded = await client.files.create(
        file=("lines.jsonl", io.BytesIO(batch_file(args.lines, args.max_tokens))), purpose="batch"
    )
    created = await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    start = time.perf_counter()
    running.set()
    try:
        while True:
            batch = await client.batches.retrieve(created.id)
            if batch.status in ("completed", "failed", "expired", "cancelled"):
                break
            await asyncio.sleep(0.5)
    finally:
        running.clear()
    counts = batch.request_counts
    found = (
        {"total": counts.total, "completed": counts.completed, "failed": counts.failed}
        if counts
        else {}
    )
    return time.perf_counter() - start, found, batch.status


async def direct(session: aiohttp.ClientSession, url: str, args: argparse.Namespace) -> float:
    """The same lines straight to the engine by `--direct-clients` clients: seconds taken."""
    lines = iter(range(args.lines))

    async def client() -> None:
        for n in lines:
            body = orjson.dumps(chat(n, args.max_tokens, False))
            headers = {"Content-Type": "application/json"}
            async with session.post(
                url + "/v1/chat/completions", data=body, headers=headers
            ) as resp:
                await resp.read()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(args.direct_clients)))
    return time.perf_counter() - start


def ms(values: list[float], fraction: float) -> str:
    """The nearest-rank percentile, in whole milliseconds ("-" when there are none)."""
    return f"{percentile(values, fraction):.0f}" if values else "-"


async def run(args: argparse.Namespace, procs: Processes, tmp: Path) -> None:
    """Start the engine and CHUNGUS, measure the three phases, print."""
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        h = Harness(args, procs, session, tmp)
        fleet = Fleet(h, tmp)
        engine = await fleet.start_llama("engine", swa_full=False)
        env = {"CHUNGUS_BATCH_HEADROOM": str(args.headroom), "CHUNGUS_LOG_FLUSH_SECONDS": "0.5"}
        chungus = await fleet.start_chungus(
            {"gemma": [engine.url]}, {"gemma": "least-outstanding"}, env
        )
        for n in range(3):  # warm the engine up
            await probe(session, chungus, n, args.max_tokens)
        load = os.getloadavg()
        quiet = await probes(session, chungus, args, None)
        client = openai.AsyncOpenAI(
            base_url=chungus.url + "/v1", api_key=chungus.key, max_retries=0
        )
        running = asyncio.Event()
        batch = asyncio.create_task(run_batch(client, args, running))
        await running.wait()
        await asyncio.sleep(2)  # the runner has claimed its first lines
        busy = await probes(session, chungus, args, running)
        seconds, counts, status = await batch
        direct_seconds = await direct(session, engine.url, args)
    quiet_ttft = [p.ttft_ms for p in quiet if p.ok]
    busy_ttft = [p.ttft_ms for p in busy if p.ok]
    batch_rate, direct_rate = args.lines / seconds, args.lines / direct_seconds
    header = "phase|probes ok|TTFT p50 ms|TTFT p99 ms|total p50 ms|lines/s"
    table = [
        ["quiet", f"{len(quiet_ttft)}/{len(quiet)}", ms(quiet_ttft, 0.5), ms(quiet_ttft, 0.99),
         ms([p.total_ms for p in quiet if p.ok], 0.5), "-"],
        [f"batch running (headroom {args.headroom})", f"{len(busy_ttft)}/{len(busy)}",
         ms(busy_ttft, 0.5), ms(busy_ttft, 0.99), ms([p.total_ms for p in busy if p.ok], 0.5),
         f"{batch_rate:.2f}"],
        [f"direct to the engine ({args.direct_clients} clients)", "-", "-", "-", "-",
         f"{direct_rate:.2f}"],
    ]  # fmt: skip
    ratio = (
        statistics.median(busy_ttft) / statistics.median(quiet_ttft)
        if busy_ttft and quiet_ttft
        else 0
    )
    lines = [
        f"batch: {status}, {counts}, {args.lines} lines in {seconds:.1f} s",
        f"TTFT p50 with the batch running: {ratio:.2f}x quiet",
        f"batch throughput: {batch_rate / direct_rate:.2f}x direct",
        load_note(load),
    ]
    print(text_table(header, table))
    print("\n".join(lines))
    if args.markdown:
        print()
        print(markdown_table(header, table))
        print()
        print("\n".join(f"- {line}" for line in lines))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--lines", type=int, default=1000, help="lines in the batch (default 1000)")
    add("--max-tokens", type=int, default=8, help="max_tokens of every line and probe (default 8)")
    add("--probes", type=int, default=40, help="interactive probes per phase (default 40)")
    add("--gap", type=float, default=0.5, help="seconds between probes (default 0.5)")
    add("--headroom", type=int, default=1, help="CHUNGUS_BATCH_HEADROOM (default 1)")
    add("--direct-clients", type=int, default=2, help="clients sending lines direct (default 2)")
    add("--request-timeout", type=float, default=120, help="seconds per request (default 120)")
    add("--markdown", action="store_true", help="also print a markdown block for bench/RESULTS.md")
    add("--keep-temp", action="store_true", help="keep logs and CHUNGUS_HOME; print where")
    args = parser.parse_args(argv)
    if args.lines < 1 or args.probes < 1 or args.direct_clients < 1 or args.headroom < 0:
        parser.error("--lines, --probes and --direct-clients must be at least 1, --headroom 0+")
    return args


if __name__ == "__main__":
    run_main(parse_args, run)
