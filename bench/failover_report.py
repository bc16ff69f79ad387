"""The failover benchmark's records and report: outcomes per window, the timeline, the failures."""

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

WINDOWS = ("before kill", "A down", "after restart")


@dataclass
class Outcome:
    """One client request, with wall-clock times (seconds since the epoch)."""

    start: float
    end: float
    stream: bool
    status: int  # HTTP status; 0 for a transport error
    result: str  # "ok", "error event", "cut", "http", "transport"
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.result in ("cut", "http", "transport")


@dataclass
class Timeline:
    """Wall-clock moments of the run (seconds since the epoch)."""

    start: float = 0.0
    kill: float = 0.0
    restart: float = 0.0  # the new process was launched
    up: float = 0.0  # its /health answered 200
    end: float = 0.0
    health: list[tuple[float, str, str]] = field(default_factory=list)  # A: (time, state, why)
    recorded: list[tuple[float, str]] = field(default_factory=list)  # A in fleet_backend.health
    notes: list[str] = field(default_factory=list)

    def window(self, moment: float) -> str:
        if moment < self.kill:
            return WINDOWS[0]
        return WINDOWS[1] if moment < self.restart else WINDOWS[2]


def window_rows(
    outcomes: list[Outcome], rows: list[dict[str, Any]], t: Timeline, names: dict[str, str]
) -> list[list[str]]:
    """One table row per window; `names` maps backend URLs to short names."""
    bounds = {WINDOWS[0]: (t.start, t.kill), WINDOWS[1]: (t.kill, t.restart)}
    bounds[WINDOWS[2]] = (t.restart, t.end)
    out = []
    for name in (*WINDOWS, "all"):
        mine = [o for o in outcomes if name == "all" or t.window(o.start) == name]
        logged = [r for r in rows if name == "all" or t.window(stamp(r["created_at"])) == name]
        ok = [o for o in mine if o.result == "ok"]
        span = t.end - t.start if name == "all" else bounds[name][1] - bounds[name][0]
        latencies = [o.end - o.start for o in ok]
        backends = Counter(r["backend"] for r in logged)
        out.append(
            [
                name,
                str(len(mine)),
                str(len(ok)),
                str(sum(o.failed for o in mine)),
                str(sum(o.result == "error event" for o in mine)),
                str(sum(r["attempts"] > 1 for r in logged)),
                f"{percentile(latencies, 0.5) * 1e3:.0f}" if latencies else "-",
                f"{percentile(latencies, 0.99) * 1e3:.0f}" if latencies else "-",
                f"{len(ok) / span:.2f}" if span > 0 else "-",
                " ".join(f"{names.get(b, b or 'none')}:{n}" for b, n in sorted(backends.items())),
            ]
        )
    return out


HEADER = "window|sent|ok|failed|stream cut (error event)|retried|p50 ms|p99 ms|ok/s|served by"


def timeline_lines(
    outcomes: list[Outcome], rows: list[dict[str, Any]], t: Timeline, victim: Llama
) -> list[str]:
    """What happened around the kill and the restart, in seconds relative to each."""
    a_url = victim.url + "/v1"
    logged = [(stamp(r["created_at"]), r) for r in rows]
    # A request that failed over is logged under the backend that answered, with attempts > 1;
    # with two backends, one answered by B after failing over started on A.
    touched = [
        (s, r)
        for s, r in logged
        if t.kill <= s < t.restart
        and (r["backend"] == a_url or (r["attempts"] > 1 and r["backend"] != a_url))
    ]
    hit = [
        (s, r)
        for s, r in logged
        if (r["backend"] == a_url or r["attempts"] > 1) and s < t.kill <= s + r["latency_ms"] / 1e3
    ]
    lines = [
        f"kill: SIGKILL to A (port {victim.port}) at +{t.kill - t.start:.1f} s;"
        f" restart launched at +{t.restart - t.start:.1f} s, its /health up"
        f" {t.up - t.restart:.1f} s later",
        f"requests on A when it was killed: {len(hit)}; outcomes: {_outcomes([r for _, r in hit])}",
    ]
    down = [(s, state, why) for s, state, why in t.health if t.kill <= s < t.restart]
    if down:
        s, state, why = down[0]
        lines.append(
            f"CHUNGUS showed A {state} {1e3 * (s - t.kill):.0f} ms after the kill"
            f" (fleet status polled every 0.2 s; {why})"
        )
    else:
        lines.append("CHUNGUS never showed A as anything but healthy while it was down")
    if touched:
        s, r = touched[-1]
        lines.append(
            f"requests that started after the kill and were sent to A: {len(touched)}"
            f" ({_outcomes([r for _, r in touched])}); the last started"
            f" {1e3 * (s - t.kill):.0f} ms after the kill"
            f" (status {r['status']}, attempts {r['attempts']},"
            f" served by {'A' if r['backend'] == a_url else 'B'})"
        )
    else:
        lines.append("no request that started after the kill was sent to A")
    back = [(s, state) for s, state, _ in t.health if s >= t.restart and state == "healthy"]
    if back:
        lines.append(f"CHUNGUS showed A healthy {back[0][0] - t.up:.2f} s after its /health was up")
    first = next(
        (
            (s, r)
            for s, r in logged
            if s >= t.restart and r["backend"] == a_url and r["status"] == 200
        ),
        None,
    )
    if first is not None:
        lines.append(
            f"first successful request on A after the restart started {first[0] - t.up:.2f} s"
            f" after its /health was up ({first[0] - t.restart:.2f} s after the launch)"
        )
    else:
        lines.append("A served no successful request after the restart")
    changes = [f"{state} at {s - t.kill:+.2f} s" for s, state in t.recorded]
    lines.append(
        "A's health stored in the database (fleet_backend.health, shown by `chungus models"
        f" list`), relative to the kill: {', '.join(changes) or 'never read'}"
    )
    lines += t.notes
    if len(rows) != len(outcomes):
        lines.append(f"request log rows {len(rows)} vs client requests {len(outcomes)}")
    return lines


def _outcomes(rows: list[dict[str, Any]]) -> str:
    counts = Counter(
        f"{r['status']}{'/' + r['error_type'] if r['error_type'] else ''}"
        f"{' failed over' if r['attempts'] > 1 else ''}{' stream' if r['stream'] else ''}"
        for r in rows
    )
    return ", ".join(f"{n}x {k}" for k, n in counts.most_common()) or "none"


def failure_lines(outcomes: list[Outcome], t: Timeline) -> list[str]:
    """Every request that did not end cleanly, relative to the kill."""
    bad = [o for o in outcomes if o.result != "ok"]
    return [
        f"{o.start - t.kill:+.2f} s from the kill ({t.window(o.start)}), "
        f"{'stream' if o.stream else 'non-stream'}: {o.result} HTTP {o.status} {o.detail[:150]}"
        for o in bad
    ]


def report(
    args: argparse.Namespace,
    outcomes: list[Outcome],
    rows: list[dict[str, Any]],
    t: Timeline,
    victim: Llama,
    names: dict[str, str],
    health_interval: float,
) -> None:
    """Print the window table, the timeline, each failure and, with --markdown, a block."""
    table = window_rows(outcomes, rows, t, names)
    timeline = timeline_lines(outcomes, rows, t, victim)
    failures = failure_lines(outcomes, t)
    print(text_table(HEADER, table))
    print("\n" + "\n".join(timeline))
    if failures:
        print("\nrequests that did not end cleanly:\n  " + "\n  ".join(failures[:30]))
    if args.markdown:
        print("\n" + "\n".join(f"- {line}" for line in machine_info()))
        print(
            f"- {args.clients} clients for {args.duration:g} s, 1 request in {args.stream_every}"
            f" a stream, max_tokens 8; 2 llama-servers (1 thread, 2 slots); routing"
            f" {args.routing}; CHUNGUS_HEALTH_INTERVAL={health_interval:g}; A killed at"
            f" {args.kill_at:g} s, restarted at {args.restart_at:g} s\n"
        )
        print(markdown_table(HEADER, table) + "\n")
        print("\n".join(f"- {line}" for line in timeline))
        if failures:
            print("- requests that did not end cleanly:")
            print("\n".join(f"  - {line}" for line in failures[:30]))
