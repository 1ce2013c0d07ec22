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
import http.client
import itertools
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import psutil
import psycopg
from common import BenchError, free_port, health_ok, log_tail, pct, purge_queues, with_dbname

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PYTHON = str(BIN / "python") if (BIN / "python").exists() else sys.executable
HONCHO = str(BIN / "honcho")
INGEST_PATH = "/api/v1/analytics/job-outcome"
HEALTH_PATH = "/api/v1/analytics/health"
MIDDLEWARE_PATH = "/api/v1/metrics/api-performance"
MARKER = "bench"  # initiated_by of measured items; the worker's own outcomes say "celery"
WARMUP_MARKER = "bench-warmup"
JOB_TYPES = ("device_restart", "firmware_update", "config_push", "log_upload", "reboot_check")
ERROR_CODES = ("E_TIMEOUT", "E_OFFLINE", "E_CHECKSUM")


# --- helpers ------------------------------------------------------------------


def base_env(args, *, analytics_enabled: bool, port: int | None = None) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        DEBUG="true",
        DATABASE_URL=args.db_url,
        REDIS_URL=args.redis_url,
        ANALYTICS_ENABLED="true" if analytics_enabled else "false",
        THROTTLE_RATE_INGEST="1000000/min",
        DJANGO_SETTINGS_MODULE="analytics_project.settings",
        PYTHONUNBUFFERED="1",
    )
    env.pop("CELERY_BROKER_URL", None)  # follow REDIS_URL, so the bench has its own queues
    if port is not None:
        env["PORT"] = str(port)
    return env


def manage(args, env: dict[str, str], *cmd: str) -> str:
    try:
        done = subprocess.run(
            [PYTHON, "manage.py", *cmd],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=args.timeout,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"manage.py {' '.join(cmd)} took more than {args.timeout} s") from None
    if done.returncode != 0:
        raise BenchError(
            f"manage.py {' '.join(cmd)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout


# --- setup --------------------------------------------------------------------


def setup(args) -> str:
    """Fresh bench database, migrations, schedules, clean queues; returns an ingest key."""
    name = urlsplit(args.db_url).path.lstrip("/")
    if "bench" not in name or '"' in name:
        raise BenchError(f"refusing to drop {name!r}: the bench database's name must say bench")
    with psycopg.connect(
        with_dbname(args.db_url, "postgres"), autocommit=True, connect_timeout=5
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    purge_queues(args.redis_url)
    env = base_env(args, analytics_enabled=False)
    if (ROOT / ".env").exists():
        print("note: .env exists; honcho loads it and its values override the bench's env")
    t0 = time.perf_counter()
    manage(args, env, "migrate", "--noinput")
    manage(args, env, "setup_schedules")
    out = manage(args, env, "create_api_key", "bench", "--scope", "ingest")
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if not lines:
        raise BenchError("create_api_key printed no key")
    print(f"setup: database {name!r} recreated and migrated in {time.perf_counter() - t0:.1f} s")
    return lines[-1]


# --- the server -----------------------------------------------------------------


class Server:
    """`honcho start` in its own process group; stop() takes down everything it started."""

    def __init__(self, args, key: str):
        self.args = args
        self.port = free_port()
        self.key = key
        self.log = tempfile.NamedTemporaryFile(prefix="bench-honcho-", suffix=".log", delete=False)
        self.proc: subprocess.Popen | None = None
        self.known: dict[int, psutil.Process] = {}

    def start(self) -> None:
        env = base_env(self.args, analytics_enabled=False, port=self.port)
        self.proc = subprocess.Popen(
            [HONCHO, "start"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def descendants(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            found = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            found = []
        for child in found:
            self.known.setdefault(child.pid, child)
        return found

    def wait_healthy(self, deadline: float) -> None:
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(f"honcho exited with {self.proc.returncode}\n{self.log_tail()}")
            if health_ok(self.port, HEALTH_PATH):
                self.descendants()
                return
            if time.monotonic() > deadline:
                raise BenchError(f"server not healthy in time\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log, "server", lines)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.descendants()  # remember every child: honcho puts each in its own session
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # honcho forwards it to its children
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        _, alive = psutil.wait_procs(list(self.known.values()), timeout=5)
        if alive or self.proc.poll() is None:
            groups = set()
            for child in alive:
                try:
                    groups.add(os.getpgid(child.pid))
                except ProcessLookupError:
                    pass
            if self.proc.poll() is None:
                groups.add(self.proc.pid)
            for group in groups:
                try:
                    os.killpg(group, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            for child in alive:
                try:
                    child.kill()
                except psutil.NoSuchProcess:
                    pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"warning: honcho (pid {self.proc.pid}) did not exit")
        self.log.close()


# --- CPU accounting ---------------------------------------------------------------


def cpu_snapshot(server: Server, dbname: str) -> dict[int, tuple[str, float]]:
    """pid -> (role, cpu seconds) for the stack, PostgreSQL, Redis and this client."""
    roles: dict[int, str] = {os.getpid(): "bench client"}
    if server.proc is not None:
        roles[server.proc.pid] = "honcho"
    for child in server.descendants():
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


def make_bodies(total: int, batch: int, marker: str, seed: int) -> list[tuple[int, bytes]]:
    rng = random.Random(seed)
    bodies = []
    for start in range(0, total, batch):
        items = []
        for n in range(start, min(total, start + batch)):
            failed = rng.random() < 0.1
            item = {
                "event_id": str(uuid.uuid4()),
                "job_type": JOB_TYPES[n % len(JOB_TYPES)],
                "status": "failed" if failed else "success",
                "duration_ms": rng.randint(50, 30_000),
                "device_id": f"device-{rng.randint(1, 2000)}",
                "job_id": f"job-{n}",
                "initiated_by": marker,
            }
            if failed:
                item["error_code"] = rng.choice(ERROR_CODES)
                item["error_message"] = "device did not answer within the deadline"
                item["retry_count"] = rng.randint(0, 3)
            items.append(item)
        bodies.append((len(items), orjson.dumps({"batch": items})))
    return bodies


@dataclass
class PostResult:
    latency: float
    status: int
    body: bytes


@dataclass
class SendReport:
    results: list[PostResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


def send_all(port: int, key: str, bodies: list[tuple[int, bytes]], clients: int, deadline: float):
    """POST every body once, spread over `clients` threads with one connection each."""
    report = SendReport()
    headers = {"X-API-Key": key, "Content-Type": "application/json", "Connection": "keep-alive"}
    next_index = itertools.count().__next__  # atomic under the GIL
    go = threading.Event()
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine: list[PostResult] = []
        go.wait()
        while True:
            index = next_index()
            if index >= len(bodies):
                break
            if time.monotonic() > deadline:
                with lock:
                    report.errors.append(f"deadline passed before batch {index}")
                break
            body = bodies[index][1]
            started = time.perf_counter()
            try:
                conn.request("POST", INGEST_PATH, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()  # http.client reconnects on the next request
                with lock:
                    report.errors.append(f"batch {index}: {type(exc).__name__}: {exc}")
                continue
            mine.append(PostResult(time.perf_counter() - started, resp.status, data))
        conn.close()
        with lock:
            report.results.extend(mine)

    threads = [
        threading.Thread(target=client, name=f"client-{i}", daemon=True) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    report.started = time.perf_counter()
    go.set()
    give_up = max(deadline, time.monotonic()) + 130  # a request may still be under way
    for thread in threads:
        thread.join(max(0.0, give_up - time.monotonic()))
    report.finished = time.perf_counter()
    if any(thread.is_alive() for thread in threads):
        report.errors.append("a client thread is still running after the deadline")
    return report


def check_responses(report: SendReport, expected_posts: int, expected_items: int) -> int:
    """Every POST 202, nothing rejected; returns the accepted count (raises otherwise)."""
    problems = report.errors[:5]
    if len(report.errors) > 5:
        problems.append(f"... and {len(report.errors) - 5} more errors")
    accepted = 0
    statuses: dict[int, int] = {}
    for result in report.results:
        statuses[result.status] = statuses.get(result.status, 0) + 1
        if result.status != 202:
            if len(problems) < 5:
                problems.append(f"HTTP {result.status}: {result.body[:300]!r}")
            continue
        payload = orjson.loads(result.body)
        accepted += payload["accepted"]
        if payload["rejected"] and len(problems) < 5:
            problems.append(f"rejected items: {orjson.dumps(payload['rejected'][:3]).decode()}")
    if len(report.results) != expected_posts:
        problems.append(f"{len(report.results)} responses for {expected_posts} POSTs")
    if statuses.keys() - {202}:
        problems.append(f"status counts {statuses}")
    if accepted != expected_items:
        problems.append(f"accepted {accepted} of {expected_items} items sent")
    if problems:
        raise BenchError("; ".join(problems))
    return accepted


def wait_committed(db, marker: str, expected: int, deadline: float) -> tuple[float, int]:
    """Poll until `expected` rows with `marker` are committed; returns (when, count).

    Polls the small outbox table (cheap) and counts the big table only once the
    job_outcome outbox holds no live row; that count is then final.
    """
    while True:
        pending, failed = db.execute(
            "SELECT count(*) FILTER (WHERE failed_at IS NULL), "
            "count(*) FILTER (WHERE failed_at IS NOT NULL) "
            "FROM ingest_outboxbatch WHERE kind = 'job_outcome'"
        ).fetchone()
        if pending == 0:
            when = time.perf_counter()
            (count,) = db.execute(
                "SELECT count(*) FROM jobs_joboutcome WHERE initiated_by = %s", [marker]
            ).fetchone()
            if count == expected:
                return when, count
            raise BenchError(
                f"outbox drained but {count} rows committed for {expected} accepted "
                f"({failed} outbox row(s) parked as failed)"
            )
        if time.monotonic() > deadline:
            (count,) = db.execute(
                "SELECT count(*) FROM jobs_joboutcome WHERE initiated_by = %s", [marker]
            ).fetchone()
            raise BenchError(
                f"timed out: {count} of {expected} rows committed, {pending} outbox row(s) "
                f"pending, {failed} failed"
            )
        time.sleep(0.05)


def bench_ingest(args, key: str) -> dict:
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
    server = Server(args, key)
    try:
        server.start()
        server.wait_healthy(deadline)
        with psycopg.connect(args.db_url, autocommit=True, connect_timeout=5) as db:
            # Warm-up: both web workers answer, the celery worker consumes.
            report = send_all(server.port, key, warmup, args.clients, deadline)
            accepted = check_responses(report, len(warmup), sum(n for n, _ in warmup))
            wait_committed(db, WARMUP_MARKER, accepted, deadline)
            print(f"ingest: server up on :{server.port}, warm-up of {accepted} items committed")

            gc.collect()
            cpu_before = cpu_snapshot(server, dbname)
            idle_before = psutil.cpu_times()
            report = send_all(server.port, key, bodies, args.clients, deadline)
            accepted = check_responses(report, len(bodies), args.items)
            done_at, committed = wait_committed(db, MARKER, accepted, deadline)
            cpu_after = cpu_snapshot(server, dbname)
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
        raise BenchError(f"{exc}\n{server.log_tail()}") from None
    finally:
        server.stop()
    Path(server.log.name).unlink(missing_ok=True)  # kept only when something failed
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


# --- part 2: middleware -----------------------------------------------------------------


def bench_middleware(args) -> dict:
    os.environ.update(base_env(args, analytics_enabled=True))
    os.environ.pop("PORT", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.http import HttpResponse
    from django.test import RequestFactory

    from apps.requestlog.middleware import AnalyticsMiddleware, buffer

    request = RequestFactory().get(
        MIDDLEWARE_PATH,
        {"window": "1h"},
        HTTP_USER_AGENT="bench/1.0 (python http.client)",
        REMOTE_ADDR="203.0.113.7",
    )

    def get_response(_request):
        return HttpResponse(b'{"ok":true}', content_type="application/json")

    def outbox_request_logs() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(sum(item_count), 0), count(*) FROM ingest_outboxbatch "
                "WHERE kind = 'request_log'"
            )
            return cursor.fetchone()

    already, already_rows = outbox_request_logs()
    connection.close()  # the flusher thread has its own connection
    logged = AnalyticsMiddleware(get_response, enable_logging=True)
    unlogged = AnalyticsMiddleware(get_response, enable_logging=False)
    clock = time.perf_counter_ns
    for _ in range(1000):  # warm-up; also starts the flusher thread
        get_response(request)
        logged(request)
        unlogged(request)
    bare_ns, logged_ns, unlogged_ns = [], [], []
    t_start = time.perf_counter()
    for _ in range(args.mw_iterations):
        t0 = clock()
        get_response(request)
        t1 = clock()
        logged(request)
        t2 = clock()
        unlogged(request)
        t3 = clock()
        bare_ns.append(t1 - t0)
        logged_ns.append(t2 - t1)
        unlogged_ns.append(t3 - t2)
    wall = time.perf_counter() - t_start
    # Every logged request must reach the outbox: flush the rest here, and give the
    # flusher thread time to commit a batch it may have taken just before.
    expected = 1000 + args.mw_iterations
    deadline = time.monotonic() + 30
    while True:
        buffer.flush()
        flushed, flushes = outbox_request_logs()
        flushed, flushes = flushed - already, flushes - already_rows
        if flushed + buffer.dropped >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    connection.close()
    if flushed + buffer.dropped != expected:
        raise BenchError(
            f"{flushed} request logs reached the outbox, {buffer.dropped} dropped, of {expected}"
        )

    def ms(values: list[int], q: float) -> float:
        return pct(values, q) / 1e6

    return {
        "iterations": args.mw_iterations,
        "bare": (ms(bare_ns, 50), ms(bare_ns, 99)),
        "logged": (ms(logged_ns, 50), ms(logged_ns, 99)),
        "unlogged": (ms(unlogged_ns, 50), ms(unlogged_ns, 99)),
        "overhead": (
            ms(logged_ns, 50) - ms(bare_ns, 50),
            ms(logged_ns, 99) - ms(bare_ns, 99),
        ),
        "overhead_off": (
            ms(unlogged_ns, 50) - ms(bare_ns, 50),
            ms(unlogged_ns, 99) - ms(bare_ns, 99),
        ),
        "mean_overhead": (sum(logged_ns) - sum(bare_ns)) / len(bare_ns) / 1e6,
        "flushed": flushed,
        "flushes": flushes,
        "dropped": buffer.dropped,
        "wall": wall,
    }


def print_middleware(result: dict) -> None:
    bare, logged, unlogged = result["bare"], result["logged"], result["unlogged"]
    print(f"middleware: {result['iterations']} requests each, in-process ({result['wall']:.1f} s)")
    print(f"    bare get_response           p50 {bare[0]:.4f} ms  p99 {bare[1]:.4f} ms")
    print(f"    AnalyticsMiddleware, off    p50 {unlogged[0]:.4f} ms  p99 {unlogged[1]:.4f} ms")
    print(f"    AnalyticsMiddleware, on     p50 {logged[0]:.4f} ms  p99 {logged[1]:.4f} ms")
    print(
        f"middleware: overhead (on - bare): p50 {result['overhead'][0]:.4f} ms, "
        f"p99 {result['overhead'][1]:.4f} ms, mean {result['mean_overhead']:.4f} ms; "
        f"(off - bare): p50 {result['overhead_off'][0]:.4f} ms"
    )
    print(
        f"middleware: flusher wrote {result['flushed']} request logs in "
        f"{result['flushes']} outbox rows, {result['dropped']} dropped"
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
        key = setup(args)
        if not args.skip_ingest:
            try:
                ingest = bench_ingest(args, key)
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
