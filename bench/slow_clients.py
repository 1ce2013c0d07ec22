"""Slow-client bench: health latency and ingest throughput with and without slow clients.

Starts the stack the way `make run` does (`honcho start` with the Procfile)
against a fresh `analytics_bench_slow` database and its own Redis db (13), then:

1. without slow clients: --probes sequential health checks (a new connection
   each, 5 s timeout) -> p50/p99/max, then --items job outcomes POSTed in
   batches of --batch by --ingest-clients threads -> items/s accepted (HTTP)
   and committed in their table;
2. opens --clients slow clients (half trickle their request headers, half the
   body of an ingest POST, one byte per --interval seconds; one the server
   drops is reopened at once, as an attacker would), waits --settle seconds,
   and measures the same again while they trickle on.

    DEBUG=true .venv/bin/python bench/slow_clients.py [--clients 50] [--items 50000]

To compare another way of serving, give gunicorn extra arguments, e.g. the
former sync workers: GUNICORN_CMD_ARGS="--worker-class sync --threads 1" (health then
fails: use --probes 10 --items 10000 --timeout 60 to keep the run short).

Prints figures only; exits non-zero (after printing FAIL) when a health check
gets no 200 within its timeout, or an ingest POST is not answered 202.
"""

import argparse
import http.client
import os
import platform
import sys
import time
from collections import Counter

import psutil
import psycopg
from common import BenchError, bench_main, bench_stack, fresh_stores, pct
from ingest import setup
from ingest_client import check_responses, make_bodies, send_all, wait_committed
from stack import HEALTH_PATH, SlowClients, Stack, procfile_line

PROBE_TIMEOUT = 5.0


def probe_health(port: int, count: int, gap: float = 0.05) -> tuple[list[float], list[str]]:
    """`count` sequential GETs of health, a new connection each: (latencies ms, failures)."""
    latencies, failures = [], []
    for _ in range(count):
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
        try:
            conn.request("GET", HEALTH_PATH)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                failures.append(f"HTTP {resp.status}")
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{type(exc).__name__} after {time.perf_counter() - started:.1f} s")
        finally:
            conn.close()
        time.sleep(gap)
    return latencies, failures


def measure(args, stack: Stack, key: str, db, marker: str, seed: int) -> dict:
    deadline = time.monotonic() + args.timeout
    latencies, failures = probe_health(stack.web_port, args.probes)
    bodies = make_bodies(args.items, args.batch, marker, seed=seed)
    report = send_all(stack.web_port, key, bodies, args.ingest_clients, deadline)
    try:
        accepted = check_responses(report, len(bodies), args.items)
        done_at, committed = wait_committed(db, marker, accepted, deadline)
    except BenchError as exc:
        return {"health": latencies, "failures": failures, "ingest_error": str(exc)}
    return {
        "health": latencies,
        "failures": failures,
        "http_rate": accepted / (report.finished - report.started),
        "rate": committed / (done_at - report.started),
        "post_p50": pct([r.latency * 1000 for r in report.results], 50),
        "post_p99": pct([r.latency * 1000 for r in report.results], 99),
    }


def describe(label: str, result: dict) -> list[str]:
    lines = []
    health = result["health"]
    if health:
        lines.append(
            f"{label}: health {len(health)} x 200: p50 {pct(health, 50):.1f} ms, "
            f"p99 {pct(health, 99):.1f} ms, max {max(health):.1f} ms"
        )
    if result["failures"]:
        shown = ", ".join(f"{n} x {what}" for what, n in Counter(result["failures"]).items())
        lines.append(f"{label}: health FAILED {len(result['failures'])} time(s): {shown}")
    if "ingest_error" in result:
        lines.append(f"{label}: ingest FAILED: {result['ingest_error'][:500]}")
    else:
        lines.append(
            f"{label}: ingest {result['rate']:,.0f} items/s committed, "
            f"{result['http_rate']:,.0f} items/s accepted; POST p50 {result['post_p50']:.0f} ms, "
            f"p99 {result['post_p99']:.0f} ms"
        )
    return lines


def web_command() -> str:
    """The Procfile's web command, and GUNICORN_CMD_ARGS (which gunicorn adds) when set."""
    command = procfile_line("web") or "(no web line in the Procfile)"
    extra = os.environ.get("GUNICORN_CMD_ARGS")
    return f"{command}, GUNICORN_CMD_ARGS={extra!r}" if extra else command


def run(args) -> list[str]:
    stack = bench_stack(args)
    key = setup(args, stack)
    slow = None
    problems = []
    try:
        stack.start_honcho(timeout=60)
        with psycopg.connect(args.db_url, autocommit=True, connect_timeout=5) as db:
            warmup = make_bodies(200 * args.ingest_clients, 100, "slow-warmup", seed=3)
            report = send_all(
                stack.web_port, key, warmup, args.ingest_clients, time.monotonic() + 60
            )
            wait_committed(
                db,
                "slow-warmup",
                check_responses(report, len(warmup), 200 * args.ingest_clients),
                time.monotonic() + 60,
            )
            print(f"server up on :{stack.web_port} ({web_command()})")
            quiet = measure(args, stack, key, db, "slow-without", seed=1)
            for line in describe("without slow clients", quiet):
                print(line)

            slow = SlowClients(
                stack.web_port,
                args.clients,
                key,
                args.interval,
                reconnect=True,
                connect_timeout=2,
            )
            slow.start()
            time.sleep(args.settle)
            print(
                f"{args.clients} slow clients: {slow.connected} connected after "
                f"{args.settle:g} s, {slow.opened} connections opened"
            )
            busy = measure(args, stack, key, db, "slow-with", seed=2)
            for line in describe(f"with {args.clients} slow clients", busy):
                print(line)
            answers = ", ".join(f"{n} x {what!r}" for what, n in slow.answers.most_common())
            print(
                f"slow clients: {slow.opened} connections opened, {slow.connected} still open, "
                f"{slow.failed_connects} connects failed; the server ended "
                f"{sum(slow.answers.values())}: {answers or 'none'}"
            )
    finally:
        if slow is not None:
            slow.stop()
        stack.stop("honcho", grace=20)
    print()
    print(f"Summary ({psutil.cpu_count()} cores, Python {platform.python_version()}, ", end="")
    print(f"{time.strftime('%Y-%m-%d')}; web: {web_command()}):")
    print()
    print("| | health p50 / p99 / max | ingest items/s committed (accepted) |")
    print("|---|---|---|")
    for label, result in (("without slow clients", quiet), (f"{args.clients} slow clients", busy)):
        health = result["health"]
        figures = (
            f"{pct(health, 50):.1f} / {pct(health, 99):.1f} / {max(health):.1f} ms"
            if health
            else "-"
        )
        if result["failures"]:
            figures += f" ({len(result['failures'])} of {args.probes} unreachable)"
            problems.append(f"{label}: health unreachable {len(result['failures'])} time(s)")
        if "ingest_error" in result:
            ingest = "FAILED"
            problems.append(f"{label}: ingest: {result['ingest_error'][:300]}")
        else:
            ingest = f"{result['rate']:,.0f} ({result['http_rate']:,.0f})"
        print(f"| {label} | {figures} | {ingest} |")
    if not problems:
        stack.discard_logs()  # kept only when something failed
    return problems


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="slow clients")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between their bytes")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--probes", type=int, default=50, help="health checks per phase")
    parser.add_argument("--items", type=int, default=50_000, help="items ingested per phase")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--ingest-clients", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=180, help="bound on each phase (s)")
    fresh_stores(parser, "analytics_bench_slow", 13)
    args = parser.parse_args(argv)
    if args.clients < 0 or args.probes < 1 or args.items < 1 or not 1 <= args.batch <= 1000:
        parser.error("need --clients >= 0, --probes >= 1, --items >= 1, 1 <= --batch <= 1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(
        lambda: run(args),
        ok="health answered every check, every ingest POST was answered 202.",
    )


if __name__ == "__main__":
    sys.exit(main())
