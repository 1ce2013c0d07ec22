"""Ingest benchmark: end-to-end write throughput, and the AnalyticsMiddleware's cost.

1. Throughput. Starts the stack the way `make run` does (`honcho start` with the
   Procfile: gunicorn, celery worker, beat) against a fresh `analytics_bench`
   database, POSTs pre-encoded batches of job outcomes from a few client threads
   and times the first POST until every accepted item is committed in
   `jobs_joboutcome`. Also reports the per-POST latency and how the CPU was
   shared between web, worker, PostgreSQL, Redis and this client.
2. Middleware overhead. In-process, without a server: one request built with
   RequestFactory, timed through AnalyticsMiddleware (logging on) vs the bare
   get_response.

    DEBUG=true .venv/bin/python bench/ingest.py [--items 200000] [--clients 4]

The database is dropped and recreated on every run. The stack uses its own Redis
db (--redis-url, default db 15) so its Celery queues never mix with a dev server's
or a test run's on db 0. Exits non-zero (after printing FAIL) when a POST is not
202, an item is rejected, or the committed count differs from the accepted count.
"""

import argparse
import gc
import os
import platform
import signal
import sys
import time
from urllib.parse import urlsplit

import psutil
import psycopg
from common import BenchError, bench_stack, ingest_key, pct
from ingest_client import check_responses, make_bodies, send_all, wait_committed
from ingest_middleware import bench_middleware, print_middleware
from stack import ROOT, Stack, purge_queues, recreate_database

MARKER = "bench"  # initiated_by of measured items; the worker's own outcomes say "celery"
WARMUP_MARKER = "bench-warmup"


# --- setup --------------------------------------------------------------------


def setup(args, stack: Stack) -> str:
    """Fresh bench database, migrations, schedules, clean queues; returns an ingest key."""
    name = recreate_database(args.db_url)
    purge_queues(args.redis_url)
    if (ROOT / ".env").exists():
        print("note: .env exists; honcho loads it and its values override the bench's env")
    t0 = time.perf_counter()
    stack.manage_ok("migrate", "--noinput", timeout=args.timeout)
    stack.manage_ok("setup_schedules", timeout=args.timeout)
    key = ingest_key(stack, "bench", timeout=args.timeout)
    print(f"setup: database {name!r} recreated and migrated in {time.perf_counter() - t0:.1f} s")
    return key


# --- CPU accounting ---------------------------------------------------------------


def cpu_snapshot(stack: Stack, dbname: str) -> dict[int, tuple[str, float]]:
    """pid -> (role, cpu seconds) for the stack, PostgreSQL, Redis and this client."""
    roles: dict[int, str] = {os.getpid(): "bench client"}
    if "honcho" in stack.procs:
        roles[stack.procs["honcho"].pid] = "honcho"
    for child in stack.descendants("honcho"):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "gunicorn" in cmd:
            roles[child.pid] = "web (gunicorn)"
        elif "celery" in cmd and " worker" in cmd:
            roles[child.pid] = "worker (celery)"
        elif "celery" in cmd and " beat" in cmd:
            roles[child.pid] = "beat"
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if cmd.startswith("postgres:") or proc.info["name"] == "postgres":
            if f" {dbname} " in f"{cmd} ":
                roles[proc.pid] = "postgres (bench db)"
            elif "(" not in cmd and "[local]" not in cmd:
                roles[proc.pid] = "postgres (wal, bgwriter...)"
        elif proc.info["name"] == "redis-server":
            roles[proc.pid] = "redis"
    snap: dict[int, tuple[str, float]] = {}
    for pid, role in roles.items():
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        snap[pid] = (role, times.user + times.system)
    return snap


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    used: dict[str, float] = {}
    for pid, (role, seconds) in after.items():
        start = before.get(pid, (role, 0.0))[1]
        used[role] = used.get(role, 0.0) + max(0.0, seconds - start)
    return used


# --- part 1: throughput ---------------------------------------------------------------


def bench_ingest(args, stack: Stack, key: str) -> dict:
    deadline = time.monotonic() + args.timeout
    t_prep = time.perf_counter()
    bodies = make_bodies(args.items, args.batch, MARKER, seed=1)
    warmup = make_bodies(min(args.items, 100 * args.clients), 100, WARMUP_MARKER, seed=2)
    mib = sum(len(body) for _, body in bodies) / 2**20
    print(
        f"ingest: {len(bodies)} bodies pre-encoded ({mib:.1f} MiB) "
        f"in {time.perf_counter() - t_prep:.1f} s"
    )
    dbname = urlsplit(args.db_url).path.lstrip("/")
    try:
        stack.start_honcho(timeout=deadline - time.monotonic())
        with psycopg.connect(args.db_url, autocommit=True, connect_timeout=5) as db:
            # Warm-up: both web workers answer, the celery worker consumes.
            report = send_all(stack.web_port, key, warmup, args.clients, deadline)
            accepted = check_responses(report, len(warmup), sum(n for n, _ in warmup))
            wait_committed(db, WARMUP_MARKER, accepted, deadline)
            print(f"ingest: server up on :{stack.web_port}, warm-up of {accepted} items committed")

            gc.collect()
            cpu_before = cpu_snapshot(stack, dbname)
            idle_before = psutil.cpu_times()
            report = send_all(stack.web_port, key, bodies, args.clients, deadline)
            accepted = check_responses(report, len(bodies), args.items)
            done_at, committed = wait_committed(db, MARKER, accepted, deadline)
            cpu_after = cpu_snapshot(stack, dbname)
            idle_after = psutil.cpu_times()
        latencies = [r.latency * 1000 for r in report.results]
        elapsed = done_at - report.started
        sending = report.finished - report.started
        total = sum(idle_after) - sum(idle_before)
        idle = (idle_after.idle + idle_after.iowait) - (idle_before.idle + idle_before.iowait)
        cpu = cpu_used(cpu_before, cpu_after)
        # Busy time nobody above accounts for: other programs sharing the machine.
        cpu["other processes"] = max(0.0, (total - idle) - sum(cpu.values()))
        result = {
            "items": committed,
            "elapsed": elapsed,
            "rate": committed / elapsed,
            "http_rate": accepted / sending,
            "sending": sending,
            "drain": done_at - report.finished,
            "p50": pct(latencies, 50),
            "p99": pct(latencies, 99),
            "max": max(latencies),
            "cpu": cpu,
            "machine_busy": 1 - idle / total if total else float("nan"),
        }
    except BenchError as exc:
        raise BenchError(f"{exc}\n{stack.tail('honcho')}") from None
    finally:
        stack.stop("honcho", grace=20)
    stack.discard_logs()  # kept only when something failed
    return result


def print_ingest(args, result: dict) -> None:
    print(
        f"ingest: {result['items']} items in {result['elapsed']:.1f} s -> "
        f"{result['rate']:,.0f} items/s committed "
        f"(batches of {args.batch}, {args.clients} clients)"
    )
    print(
        f"ingest: HTTP: all 202, {result['http_rate']:,.0f} items/s accepted over "
        f"{result['sending']:.1f} s; outbox drained {result['drain']:.2f} s after the last "
        f"response"
    )
    print(
        f"ingest: POST latency per {args.batch}-item batch: p50 {result['p50']:.1f} ms, "
        f"p99 {result['p99']:.1f} ms, max {result['max']:.1f} ms"
    )
    cores = psutil.cpu_count() or 1
    budget = cores * result["elapsed"]
    shares = sorted(result["cpu"].items(), key=lambda kv: -kv[1])
    print(
        f"ingest: CPU seconds over the {result['elapsed']:.1f} s window "
        f"({cores} cores = {budget:.1f} s; machine {result['machine_busy']:.0%} busy):"
    )
    for role, seconds in shares:
        if seconds >= 0.05:
            print(
                f"    {role:<28} {seconds:6.1f} s  {seconds / budget:4.0%}  "
                f"{seconds / result['items'] * 1e6:6.1f} us/item"
            )
    stack = sum(
        seconds
        for role, seconds in result["cpu"].items()
        if role not in ("other processes", "bench client")
    )
    print(
        f"ingest: the stack used {stack / result['items'] * 1e6:.0f} CPU-us per item: at most "
        f"~{cores * result['items'] / stack:,.0f} items/s on {cores} otherwise idle cores"
    )
    other = result["cpu"].get("other processes", 0.0)
    if other > 0.1 * budget:
        print(
            f"ingest: WARNING: other programs used {other / budget:.0%} of the machine during "
            f"the run; the figures above are lower than on a quiet machine"
        )


# --- main -----------------------------------------------------------------------------


def print_summary(args, ingest: dict | None, middleware: dict | None) -> None:
    cores = psutil.cpu_count() or 1
    print()
    print(
        f"Summary ({cores} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}):"
    )
    print()
    print("| Benchmark | Result |")
    print("|---|---|")
    if ingest:
        print(
            f"| Ingest end to end, job outcomes ({args.items:,} items, batches of "
            f"{args.batch}, {args.clients} clients; the Procfile's gunicorn + 1 celery worker) "
            f"| **{ingest['rate']:,.0f} items/s** committed ({ingest['elapsed']:.1f} s) |"
        )
        print(
            f"| Ingest HTTP accept rate (202 = in the outbox) | "
            f"{ingest['http_rate']:,.0f} items/s |"
        )
        print(
            f"| POST latency per {args.batch}-item batch, p50 / p99 | "
            f"{ingest['p50']:.0f} ms / {ingest['p99']:.0f} ms |"
        )
    if middleware:
        p50, p99 = middleware["overhead"]
        print(
            f"| AnalyticsMiddleware overhead per request (logging on), p50 / p99 | "
            f"{p50:.3f} ms / {p99:.3f} ms |"
        )


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000, help="items to ingest")
    parser.add_argument("--batch", type=int, default=500, help="items per POST (max 1000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--timeout", type=float, default=300, help="bound on every wait (s)")
    parser.add_argument("--mw-iterations", type=int, default=20_000)
    parser.add_argument(
        "--db-url", default="postgres://postgres@127.0.0.1:5432/analytics_bench", help="dropped!"
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/15",
        help="broker and cache for the bench stack; a non-zero db is purged of Celery queues",
    )
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-middleware", action="store_true")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= 1000 or args.items < 1 or args.clients < 1:
        parser.error("need 1 <= --batch <= 1000, --items >= 1, --clients >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    ingest = middleware = None
    failures = []
    try:
        stack = bench_stack(args)
        key = setup(args, stack)
        if not args.skip_ingest:
            try:
                ingest = bench_ingest(args, stack, key)
                print_ingest(args, ingest)
            except BenchError as exc:
                failures.append(f"ingest: {exc}")
                print(f"FAIL ingest: {exc}")
        if not args.skip_middleware:
            try:
                middleware = bench_middleware(args)
                print_middleware(middleware)
            except BenchError as exc:
                failures.append(f"middleware: {exc}")
                print(f"FAIL middleware: {exc}")
    except BenchError as exc:
        failures.append(str(exc))
        print(f"FAIL: {exc}")
    print_summary(args, ingest, middleware)
    if failures:
        print(f"\nFAIL ({len(failures)} check(s) failed, see above)")
        return 1
    print("\nOK: every POST answered 202 and every accepted item was committed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
