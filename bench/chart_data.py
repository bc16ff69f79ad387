"""Time the dashboard's chart data over a million request-log rows: rollups vs the raw log.

Creates a fresh database (SQLite under a temporary CHUNGUS_HOME, or with --database-url a
new PostgreSQL database on that server, dropped at the end), generates --rows RequestLog
rows spread over the last 7 days across a few models and ~50 keys (raw rows bulk-inserted;
their rollups built by chungus.telemetry.rollups in big batches), then times:

  rollups  chungus.telemetry.charts.chart_data for 7d, 24h and 1h, in process
  naive    the same 7d chart computed straight from RequestLog, in process (the baseline)
  http     GET /api/chart-data/?window=7d|24h|1h from `chungus serve --no-default-model`
           on the same database, as a signed-in superuser; when the endpoint answers 404
           (not built yet) the run says so and reports the in-process numbers only

Everything listens on 127.0.0.1; the server is stopped and temporary files removed on exit
(--keep keeps them).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chart_baseline import compare, naive_chart_7d
from chart_traffic import generate, table_sizes

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CHUNGUS = ROOT / ".venv" / "bin" / "chungus"
sys.path.insert(0, str(ROOT))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="raw rows to generate")
    parser.add_argument("--days", type=float, default=7.0, help="spread rows over this many days")
    parser.add_argument("--keys", type=int, default=50, help="API keys sending the traffic")
    parser.add_argument("--batch", type=int, default=100_000, help="rows per insert batch")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per rollup chart")
    parser.add_argument("--naive-runs", type=int, default=3, help="timed runs of the baseline")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the traffic")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server to use (a new database is created on it and dropped after);"
        "\ndefault: SQLite in a temporary CHUNGUS_HOME",
    )
    parser.add_argument("--skip-http", action="store_true", help="time in process only")
    parser.add_argument("--keep", action="store_true", help="keep the database and temp files")
    parser.add_argument("--markdown", action="store_true", help="also print a RESULTS.md block")
    return parser.parse_args(argv)


# Database set-up ---------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(args: argparse.Namespace, home: Path) -> Iterator[dict[str, str]]:
    """Point this process's environment at a new, empty database; yield that environment."""
    env = {"CHUNGUS_HOME": str(home), "CHUNGUS_DEFAULT_MODEL": "0"}
    os.environ.pop("DATABASE_URL", None)
    if not args.database_url:
        os.environ.update(env)
        yield env
        return
    import psycopg

    name = f"chungus_bench_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(args.database_url)
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    os.environ.update(env)
    try:
        yield env
    finally:
        if args.keep:
            print(f"kept PostgreSQL database {name}", file=sys.stderr)
        else:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(args.database_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chungus.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


# Timing --------------------------------------------------------------------------------------


def timed(call: Callable[[], object], runs: int, *, warm_up: bool = True) -> list[float]:
    """Milliseconds per call, after one untimed warm-up call unless told otherwise."""
    if warm_up:
        call()
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        out.append((time.perf_counter() - began) * 1e3)
    return out


def summary(name: str, samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, math.ceil(0.95 * len(ordered)) - 1))]
    return {
        "name": name,
        "runs": len(samples),
        "median": statistics.median(samples),
        "p95": p95,
        "max": ordered[-1],
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def superuser_cookie() -> str:
    """A session cookie for a new superuser, made directly in the session store."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    user = User.objects.create_superuser("bench", "bench@example.invalid", uuid.uuid4().hex)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}"


def serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    argv = [str(CHUNGUS), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-default-model"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chungus serve exited ({proc.returncode}):\n{log.read_text()}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return proc, port
        time.sleep(0.2)
    raise RuntimeError(f"chungus serve not ready after 90 s:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def time_http(args: argparse.Namespace, env: dict[str, str], tmp: Path) -> list[dict[str, Any]]:
    """Time GET /api/chart-data/ per window on a running `chungus serve`; [] on a 404."""
    cookie = superuser_cookie()
    proc, port = serve(env, tmp / "serve.log")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def get(window: str) -> bytes:
            conn.request("GET", f"/api/chart-data/?window={window}", headers={"Cookie": cookie})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise LookupError(f"HTTP {response.status}: {body[:300]!r}")
            return body

        try:
            size = len(get("7d"))
        except LookupError as exc:
            if "HTTP 404" in str(exc):
                print(
                    "\n*** GET /api/chart-data/ answered 404: the endpoint is not there yet, so"
                    "\n*** only the in-process numbers below count; rerun later for HTTP.\n",
                    file=sys.stderr,
                )
                return []
            raise
        print(f"  HTTP 7d body: {size:,} bytes", file=sys.stderr)
        return [summary(f"http {w}", timed(functools.partial(get, w), args.runs)) for w in WINDOWS]
    finally:
        stop(proc)


WINDOWS = ("7d", "24h", "1h")


def run(args: argparse.Namespace, tmp: Path) -> None:
    home = tmp / "home"
    home.mkdir()
    with fresh_database(args, home) as env:
        setup_django()
        from django.db import connection

        from chungus.telemetry.charts import chart_data

        vendor = connection.vendor
        print(
            f"database: {vendor}; generating {args.rows:,} rows over {args.days:g} days",
            file=sys.stderr,
        )
        generate(args, datetime.now(UTC))
        sizes = table_sizes()
        agreement = compare(datetime.now(UTC))
        results = [
            summary(f"rollups {w}", timed(functools.partial(chart_data, w), args.runs))
            for w in WINDOWS
        ]
        print("timing the baseline (the same 7d chart from RequestLog) ...", file=sys.stderr)
        naive = summary(
            "naive 7d",
            timed(lambda: naive_chart_7d(datetime.now(UTC)), args.naive_runs, warm_up=False),
        )
        results.append(naive)
        http_results = [] if args.skip_http else time_http(args, env, tmp)
        connection.close()
    report(args, vendor, sizes, agreement, results + http_results, bool(http_results))


def report(
    args: argparse.Namespace,
    vendor: str,
    sizes: dict[str, int],
    agreement: list[str],
    results: list[dict[str, Any]],
    had_http: bool,
) -> None:
    from report import machine_info

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [*machine_info(), f"database: {vendor}", f"load average at the end: {load}"]
    lines.append("rows: " + ", ".join(f"{name} {n:,}" for name, n in sizes.items()))
    lines += agreement
    table = ["| what | runs | median ms | p95 ms | max ms |", "|---|---:|---:|---:|---:|"]
    for r in results:
        table.append(
            f"| {r['name']} | {r['runs']} | {r['median']:.1f} | {r['p95']:.1f} | {r['max']:.1f} |"
        )
    by_name = {r["name"]: r for r in results}
    ratio = by_name["naive 7d"]["median"] / by_name["rollups 7d"]["median"]
    verdict = [f"naive / rollups, 7d median: {ratio:,.0f}x"]
    target = by_name.get("http 7d") or by_name["rollups 7d"]
    where = "over HTTP" if had_http else "in process (no HTTP endpoint yet)"
    verdict.append(
        f"7d chart {where}: median {target['median']:.1f} ms, p95 {target['p95']:.1f} ms "
        f"-> {'under' if target['p95'] < 200 else 'NOT under'} 200 ms"
    )
    print("\n".join(["", *lines, "", *table, "", *verdict]))
    if args.markdown:
        print("\n--- for bench/RESULTS.md ---")
        print("\n".join(f"- {line}" for line in lines))
        print("\n" + "\n".join(table) + "\n")
        print("\n".join(f"- {line}" for line in verdict))


def main() -> None:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="chungus-chart-bench-"))
    try:
        run(args, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
