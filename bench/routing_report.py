"""The routing benchmark's records and report: turns, phases, summaries, per-turn rows, ratios."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from llama_servers import (
    Llama,
    markdown_table,
    stamp,
    text_table,
)
from report import machine_info, percentile

ROUTINGS = {"rr": "round-robin", "ca": "cache-affinity"}


HEADER = (
    "routing|turns|err|ttft p50 ms|ttft p99 ms|latency p50 ms|prompt sent|evaluated|evaluated %"
    "|server evaluated|req/s|completion tok/s|backends"
)


@dataclass
class Turn:
    """One request of one conversation and what came back."""

    routing: str
    round: int
    conversation: int
    turn: int
    ttft: float | None = None
    latency: float = 0.0
    prompt_tokens: int = 0
    evaluated: int | None = None  # llama.cpp timings.prompt_n: prompt tokens actually computed
    completion_tokens: int = 0
    error: str | None = None
    started: float = 0.0  # wall clock, to find the request in CHUNGUS's log
    backend: str = ""  # from the request log


@dataclass
class Phase:
    """All turns of one routing, and the wall time they took."""

    turns: list[Turn] = field(default_factory=list)
    wall: float = 0.0
    server_evaluated: float = 0.0  # sum of llamacpp:prompt_tokens_total deltas
    capped: bool = False


def merge(phases: list[Phase]) -> Phase:
    """One routing's phases over all rounds, added up."""
    return Phase(
        turns=[t for p in phases for t in p.turns],
        wall=sum(p.wall for p in phases),
        server_evaluated=sum(p.server_evaluated for p in phases),
        capped=any(p.capped for p in phases),
    )


def summary_row(key: str, phase: Phase, backends: str) -> list[str]:
    """One formatted row of the summary table."""
    ok = [t for t in phase.turns if t.error is None]
    ttfts = [t.ttft for t in ok if t.ttft is not None]
    sent = sum(t.prompt_tokens for t in ok)
    evaluated = sum(t.evaluated or 0 for t in ok)
    completion = sum(t.completion_tokens for t in ok)
    return [
        ROUTINGS[key] + (" (time cap)" if phase.capped else ""),
        str(len(ok)),
        str(len(phase.turns) - len(ok)),
        f"{percentile(ttfts, 0.5) * 1e3:.0f}",
        f"{percentile(ttfts, 0.99) * 1e3:.0f}",
        f"{percentile([t.latency for t in ok], 0.5) * 1e3:.0f}",
        str(sent),
        str(evaluated),
        f"{100 * evaluated / sent:.1f}" if sent else "-",
        f"{phase.server_evaluated:.0f}",
        f"{len(ok) / phase.wall:.2f}" if phase.wall else "-",
        f"{completion / phase.wall:.1f}" if phase.wall else "-",
        backends,
    ]


def per_turn_rows(phases: dict[str, Phase], turns: int) -> list[list[str]]:
    """TTFT p50 and mean tokens evaluated by turn number, both routings side by side."""
    out = []
    for number in range(1, turns + 1):
        row = [str(number)]
        for key in ROUTINGS:
            ok = [t for t in phases[key].turns if t.error is None and t.turn == number]
            ttfts = [t.ttft for t in ok if t.ttft is not None]
            sent = sum(t.prompt_tokens for t in ok) / len(ok) if ok else 0.0
            evaluated = sum(t.evaluated or 0 for t in ok) / len(ok) if ok else 0.0
            row += [
                f"{percentile(ttfts, 0.5) * 1e3:.0f}" if ttfts else "-",
                f"{sent:.0f}",
                f"{evaluated:.0f}",
            ]
        out.append(row)
    return out


def backend_split(rows: list[dict[str, Any]], model: str, llamas: list[Llama]) -> str:
    """How a model's requests were spread over the servers (from CHUNGUS's request log)."""
    counts = Counter(r["backend"] for r in rows if r["model"] == model)
    names = {ll.url + "/v1": ll.name for ll in llamas}
    return " ".join(f"{names.get(b, b)}:{n}" for b, n in sorted(counts.items()))


def attach_backends(phase: Phase, rows: list[dict[str, Any]], model: str) -> None:
    """Find each turn's row in the request log (same prompt tokens, nearest start) and
    note the backend that served it."""
    free = [(stamp(r["created_at"]), r) for r in rows if r["model"] == model]
    for turn in sorted(phase.turns, key=lambda t: t.started):
        same = [(abs(s - turn.started), i) for i, (s, r) in enumerate(free)
                if r["prompt_tokens"] == turn.prompt_tokens and turn.error is None]  # fmt: skip
        if same and min(same)[0] < 2.0:
            turn.backend = free.pop(min(same)[1])[1]["backend"]


def stickiness(phase: Phase) -> str:
    """How often a turn went to the previous turn's backend, and what that saved."""
    by_conv = {(t.round, t.conversation, t.turn): t for t in phase.turns}
    stayed: list[int] = []
    moved: list[int] = []
    for t in phase.turns:
        before = by_conv.get((t.round, t.conversation, t.turn - 1))
        if before is None or not (t.backend and before.backend) or t.evaluated is None:
            continue
        (stayed if t.backend == before.backend else moved).append(t.evaluated)
    if not stayed + moved:
        return "no later turns matched in the request log"

    def mean(values: list[int]) -> str:
        return f"{sum(values) / len(values):.0f}" if values else "-"

    return (
        f"turns 2+ on the previous turn's backend: {len(stayed)}/{len(stayed) + len(moved)}"
        f" ({100 * len(stayed) / len(stayed + moved):.0f}%); mean tokens evaluated"
        f" {mean(stayed)} when it stayed, {mean(moved)} when it moved"
    )


def log_anomalies(rows: list[dict[str, Any]]) -> list[str]:
    """Request-log rows that were not a clean first-attempt success."""
    bad = [r for r in rows if r["status"] != 200 or r["attempts"] > 1]
    return [
        f"{r['created_at']} {r['model']} {r['backend']} status={r['status']}"
        f" attempts={r['attempts']} error={r['error_type']!r}"
        for r in bad
    ]


def report(
    args: argparse.Namespace,
    phases: dict[str, Phase],
    rows: list[dict[str, Any]],
    llamas: list[Llama],
    notes: list[str],
) -> None:
    """Print the tables, the ratios, anomalies and, with --markdown, a block for RESULTS.md."""
    for key in ROUTINGS:
        attach_backends(phases[key], rows, f"gemma-{key}")
        notes = [*notes, f"{ROUTINGS[key]}: {stickiness(phases[key])}"]
    table = [summary_row(k, phases[k], backend_split(rows, f"gemma-{k}", llamas)) for k in ROUTINGS]
    turn_header = "turn|rr ttft p50|rr sent|rr evaluated|ca ttft p50|ca sent|ca evaluated"
    turn_table = per_turn_rows(phases, args.turns)
    print(text_table(HEADER, table))
    print("\nBy turn (ttft ms, mean prompt tokens sent / evaluated per request):")
    print(text_table(turn_header, turn_table))
    lines = ratio_lines(phases)
    print("\n" + "\n".join(lines + notes))
    errors = Counter(t.error for p in phases.values() for t in p.turns if t.error is not None)
    if errors:
        print(f"client errors: {dict(errors.most_common(5))}")
    if anomalies := log_anomalies(rows):
        print("request-log rows that failed or failed over:\n  " + "\n  ".join(anomalies[:20]))
    if args.markdown:
        print("\n" + "\n".join(f"- {line}" for line in machine_info()))
        print(
            f"- workload: {args.rounds} rounds x {args.conversations} conversations x"
            f" {args.turns} turns per routing, {args.concurrency} conversations in flight,"
            f" system prompt ~{args.system_tokens} tokens, user turns ~{args.user_tokens}"
            f" tokens, think time {args.think_ms:g} ms (mean), max_tokens 16, temperature 0;"
            f" 2 llama-servers (1 thread, 2 slots,"
            f" --swa-full); CHUNGUS max-concurrency per backend"
            f" {args.max_concurrency or 'default (64)'}, CHUNGUS_HEALTH_INTERVAL"
            f"={args.health_interval:g}\n"
        )
        print(markdown_table(HEADER, table) + "\n")
        print(markdown_table(turn_header, turn_table) + "\n")
        print("\n".join(f"- {line}" for line in lines + notes))


def ratio_lines(phases: dict[str, Phase]) -> list[str]:
    """cache-affinity over round-robin for the headline numbers."""

    def stats(p: Phase) -> tuple[float, float, float, float]:
        ok = [t for t in p.turns if t.error is None]
        ttfts = [t.ttft for t in ok if t.ttft is not None]
        evaluated = sum(t.evaluated or 0 for t in ok)
        return percentile(ttfts, 0.5), percentile(ttfts, 0.99), evaluated, len(ok) / p.wall

    rr, ca = stats(phases["rr"]), stats(phases["ca"])
    change = 100 * (1 - ca[0] / rr[0])
    return [
        f"cache-affinity / round-robin: TTFT p50 {ca[0] / rr[0]:.2f}"
        f" ({abs(change):.0f}% {'lower' if change >= 0 else 'higher'}),"
        f" TTFT p99 {ca[1] / rr[1]:.2f},"
        f" prompt tokens evaluated {ca[2] / rr[2]:.2f}, requests/s {ca[3] / rr[3]:.2f}",
    ]
