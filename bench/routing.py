"""Compare round-robin and cache-affinity routing on a multi-turn chat workload.

Two real llama-servers (the packaged Gemma 3 270M, 1 thread, 2 slots, --swa-full so a
shared prefix is reused under sliding-window attention) behind one `chungus serve`. The
model is registered twice with both backends: `gemma-rr` (round-robin) and `gemma-ca`
(cache-affinity). Each round runs the same workload once per routing, in alternating
order (rr, ca, then ca, rr, ...) so machine noise hits both alike:

  N conversations, each T turns, `--concurrency` of them in flight at once (a worker
  takes a conversation and plays all its turns, sending the growing history each time);
  every conversation starts with the same long system prompt; small max_tokens so
  prompt processing dominates.

The two phases of a round use the same texts except for a tag at the very start of the
system prompt, so neither phase can reuse the other's KV cache (and every round gets
new texts). TTFT is measured at the client (time to the first content chunk of a
stream); prompt tokens evaluated come from llama.cpp's `timings.prompt_n` on the
stream's usage chunk, checked against `llamacpp:prompt_tokens_total` on /metrics.

Everything listens on 127.0.0.1; every process is started in its own process group and
stopped on exit, Ctrl-C or SIGTERM. `bench/failover.py` reuses the fleet helpers here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
from harness import Processes, run_main
from llama_servers import (
    Chungus,
    Fleet,
    Llama,
    load_note,
    metric,
    request_log,
)
from overhead import Harness
from routing_report import (
    ROUTINGS,
    Phase,
    Turn,
    merge,
    report,
)

Popen = subprocess.Popen[bytes]
WORDS = (
    "account", "answer", "apple", "army", "autumn", "balance", "basket", "battle", "bell",
    "berry", "bird", "blade", "board", "boat", "bone", "book", "border", "bottle", "branch",
    "bread", "brick", "bridge", "brother", "bucket", "button", "cable", "camera", "candle",
    "canvas", "carpet", "castle", "cattle", "chain", "chalk", "cheese", "circle", "cloud",
    "coast", "coffee", "collar", "copper", "cotton", "country", "cousin", "crystal", "curtain",
    "cushion", "desert", "dinner", "doctor", "dragon", "drawer", "engine", "evening", "farmer",
    "feather", "fence", "field", "finger", "flower", "forest", "garden", "garlic", "glass",
    "glove", "harbor", "hammer", "harvest", "helmet", "island", "jacket", "kettle", "kitchen",
    "ladder", "lantern", "leather", "lemon", "letter", "library", "lizard", "market", "meadow",
    "mirror", "monkey", "morning", "mountain", "needle", "number", "ocean", "office", "orange",
    "oven", "paper", "pencil", "pepper", "picture", "pillow", "planet", "pocket", "potato",
    "powder", "prison", "puzzle", "rabbit", "railway", "river", "rocket", "saddle", "salmon",
    "school", "season", "shadow", "shelter", "silver", "sister", "socket", "spider", "spring",
    "station", "stomach", "story", "street", "sugar", "summer", "sunset", "table", "teacher",
    "thunder", "ticket", "tiger", "tomato", "tower", "travel", "tunnel", "turtle", "umbrella",
    "valley", "village", "violin", "wagon", "water", "window", "winter",
)  # fmt: skip
VERBS = ("keeps", "finds", "carries", "paints", "counts", "follows", "builds", "opens", "mends")


def sentence(rng: random.Random) -> str:
    """A plain sentence of common words, so every text tokenizes like prose."""
    words = rng.sample(WORDS, rng.randint(6, 10))
    return f"The {words[0]} {rng.choice(VERBS)} the {' '.join(words[1:])}."


# ---------------------------------------------------------------- the routing workload


@dataclass
class Texts:
    """One round's texts: the system prompt and every conversation's user messages."""

    system: str
    users: list[list[str]]


async def tokens(session: aiohttp.ClientSession, llama: str, text: str) -> int:
    """How many tokens llama-server makes of `text`."""
    async with session.post(llama + "/tokenize", json={"content": text}) as resp:
        return len((await resp.json())["tokens"])


async def grow(
    session: aiohttp.ClientSession, llama: str, start: str, target: int, seed: int
) -> str:
    """`start` plus sentences until it is about `target` tokens long."""
    rng, text = random.Random(seed), start
    while (await tokens(session, llama, text)) < target:
        text += " " + " ".join(sentence(rng) for _ in range(2))
    return text


async def make_texts(
    session: aiohttp.ClientSession, llama: str, args: argparse.Namespace, round_: int
) -> Texts:
    """New texts for a round (deterministic per round and --seed)."""
    seed = args.seed * 1000 + round_ * 100
    system = await grow(
        session,
        llama,
        "You are a helpful assistant in a long-running tabletop game. Rules:",
        args.system_tokens,
        seed,
    )
    users = [
        [
            await grow(
                session,
                llama,
                f"Conversation {c}, turn {t + 1}. Here is what happened next:",
                args.user_tokens,
                seed + 7919 * (c + 1) + t,
            )
            for t in range(args.turns)
        ]
        for c in range(args.conversations)
    ]
    return Texts(system, users)


async def read_chat_stream(resp: aiohttp.ClientResponse, start: float) -> tuple[Turn, str]:
    """Read one streamed chat answer: TTFT, content, usage and llama.cpp timings."""
    out, text, done = Turn("", 0, 0, 0), [], False
    async for line in resp.content:
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            done = True
            break
        event = orjson.loads(data)
        if "error" in event:
            out.error = f"error event: {str(event['error'])[:100]}"
            break
        choices = event.get("choices") or []
        delta = choices[0].get("delta", {}) if choices else {}
        first = delta.get("content") or (choices and choices[0].get("finish_reason"))
        if first and out.ttft is None:
            out.ttft = time.perf_counter() - start
        text.append(delta.get("content") or "")
        if usage := event.get("usage"):
            out.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            out.completion_tokens = int(usage.get("completion_tokens") or 0)
        if timings := event.get("timings"):
            out.evaluated = int(timings.get("prompt_n", 0))
    if not done and out.error is None:
        out.error = "stream ended without [DONE]"
    elif done and out.evaluated is None:
        out.error = "no timings on the usage chunk"
    return out, "".join(text)


async def chat_turn(
    session: aiohttp.ClientSession, chungus: Chungus, model: str, messages: list[dict[str, str]]
) -> tuple[Turn, str]:
    """Send one streamed chat turn through CHUNGUS."""
    body = {
        "model": model,
        "messages": messages,
        "max_tokens": 16,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start, started = time.perf_counter(), time.time()
    try:
        async with session.post(
            chungus.url + "/v1/chat/completions", data=orjson.dumps(body), headers=chungus.headers
        ) as resp:
            if resp.status != 200:
                detail = (await resp.read())[:160]
                result, reply = Turn("", 0, 0, 0, error=f"HTTP {resp.status}: {detail!r}"), ""
            else:
                result, reply = await read_chat_stream(resp, start)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        result, reply = Turn("", 0, 0, 0, error=type(exc).__name__), ""
    result.latency, result.started = time.perf_counter() - start, started
    return result, reply


async def run_phase(
    h: Harness, chungus: Chungus, llamas: list[Llama], texts: Texts, key: str, round_: int
) -> Phase:
    """Play every conversation of a round through one routing; return its turns."""
    args, phase = h.args, Phase()
    system = f"[{ROUTINGS[key]} session {round_}] {texts.system}"
    pending = list(range(args.conversations))
    before = [await metric(h.session, ll.url, "llamacpp:prompt_tokens_total") for ll in llamas]
    start = time.perf_counter()
    deadline = start + args.max_seconds

    async def worker(rng: random.Random) -> None:
        while pending and time.perf_counter() < deadline:
            conv = pending.pop(0)
            messages = [{"role": "system", "content": system}]
            for t, user in enumerate(texts.users[conv]):
                if time.perf_counter() >= deadline:
                    phase.capped = True
                    return
                messages.append({"role": "user", "content": user})
                result, reply = await chat_turn(h.session, chungus, f"gemma-{key}", messages)
                result.routing, result.round, result.conversation, result.turn = (
                    key, round_, conv, t + 1
                )  # fmt: skip
                phase.turns.append(result)
                if result.error is not None:
                    break  # the conversation cannot go on without its answer
                messages.append({"role": "assistant", "content": reply})
                if t + 1 < len(texts.users[conv]):
                    await asyncio.sleep(rng.uniform(0, 2 * args.think_ms) / 1000)

    seeds = [args.seed * 1000 + round_ * 100 + w for w in range(args.concurrency)]
    await asyncio.gather(*(worker(random.Random(seed)) for seed in seeds))
    phase.wall = time.perf_counter() - start
    phase.capped = phase.capped or bool(pending)
    after = [await metric(h.session, ll.url, "llamacpp:prompt_tokens_total") for ll in llamas]
    phase.server_evaluated = sum(a - b for a, b in zip(after, before, strict=True))
    return phase


async def warm_up(h: Harness, llamas: list[Llama]) -> None:
    """One request per server directly, so neither phase pays for loading the model."""
    body = {"model": "gemma", "messages": [{"role": "user", "content": "Hello."}], "max_tokens": 4}
    for llama in llamas:
        async with h.session.post(llama.url + "/v1/chat/completions", json=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"warm-up on {llama.url}: HTTP {resp.status}")
            await resp.read()


async def run(args: argparse.Namespace, procs: Processes, tmp: Path) -> None:
    """Start two llama-servers and CHUNGUS, run the rounds, report."""
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        h = Harness(args, procs, session, tmp)
        fleet = Fleet(h, tmp)
        llamas = [await fleet.start_llama(name, swa_full=not args.no_swa_full) for name in "AB"]
        urls = [ll.url for ll in llamas]
        env = {
            "CHUNGUS_HEALTH_INTERVAL": str(args.health_interval),
            "CHUNGUS_LOG_FLUSH_SECONDS": "0.2",
        }
        models = {f"gemma-{k}": urls for k in ROUTINGS}
        chungus = await fleet.start_chungus(
            models, {f"gemma-{k}": v for k, v in ROUTINGS.items()}, env, args.max_concurrency
        )
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        await warm_up(h, llamas)
        load = os.getloadavg()
        results: dict[str, list[Phase]] = {k: [] for k in ROUTINGS}
        for round_ in range(args.rounds):
            texts = await make_texts(session, llamas[0].url, args, round_)
            order = list(ROUTINGS) if round_ % 2 == 0 else list(reversed(ROUTINGS))
            for key in order:
                # Let a health probe see idle engines, so no stale load skews the next phase.
                await asyncio.sleep(args.health_interval * 1.2 + 0.2)
                phase = await run_phase(h, chungus, llamas, texts, key, round_)
                results[key].append(phase)
                ok = [t for t in phase.turns if t.error is None]
                print(
                    f"round {round_ + 1}/{args.rounds} {ROUTINGS[key]}: {len(ok)} turns ok,"
                    f" {len(phase.turns) - len(ok)} failed, {phase.wall:.1f} s",
                    file=sys.stderr,
                )
        await asyncio.sleep(1.0)  # the request log is written every 0.2 s
        rows = request_log(chungus.home, since)
        notes = [prompt_cache_note(procs.log_dir / "A.log"), load_note(load)]
    report(args, {k: merge(v) for k, v in results.items()}, rows, llamas, notes)


def prompt_cache_note(log: Path) -> str:
    """Whether llama-server's host-memory prompt cache was on (it says so at start-up)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    state = "on" if "prompt cache is enabled" in text else "off (not announced in its log)"
    return f"llama-server host-memory prompt cache: {state}; reuse is per slot (2 per server)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--conversations", type=int, default=8, help="conversations per round (default 8)")
    add("--turns", type=int, default=4, help="turns per conversation (default 4)")
    add("--concurrency", type=int, default=4, help="conversations in flight (default 4)")
    add("--rounds", type=int, default=4, help="rounds, each running both routings (default 4)")
    add("--system-tokens", type=int, default=250, help="system prompt length (default 250)")
    add("--user-tokens", type=int, default=60, help="length of each user turn (default 60)")
    add(
        "--think-ms",
        type=float,
        default=0,
        help="mean pause between a conversation's turns, uniform in [0, 2x] (default 0)",
    )
    add("--seed", type=int, default=1, help="seed for the texts (default 1)")
    add(
        "--max-concurrency",
        type=int,
        default=0,
        help="CHUNGUS --max-concurrency per backend (default: CHUNGUS's own, 64; 2 = the slots)",
    )
    add("--health-interval", type=float, default=3.0, help="CHUNGUS_HEALTH_INTERVAL (default 3)")
    add("--max-seconds", type=float, default=300, help="time cap per phase (default 300)")
    add("--request-timeout", type=float, default=120, help="seconds per request (default 120)")
    add("--no-swa-full", action="store_true", help="run llama-server without --swa-full")
    add("--markdown", action="store_true", help="also print a markdown block for bench/RESULTS.md")
    add("--keep-temp", action="store_true", help="keep logs and CHUNGUS_HOME; print where")
    args = parser.parse_args(argv)
    if min(args.conversations, args.turns, args.concurrency, args.rounds) < 1:
        parser.error("--conversations, --turns, --concurrency and --rounds must be at least 1")
    return args


if __name__ == "__main__":
    run_main(parse_args, run)
