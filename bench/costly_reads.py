"""Costly reads: the widest reads one read key can ask for, alone and eight at once, and
what health answers meanwhile (issue 18, "One read key can stall everyone").

1. Data, in a fresh `analytics_bench_reads` database: --events product events over the
   last 365 days from --users users (a few busy, most seen a few times); --ai-records AI
   usage records over 7 days with their hourly sums and metric points (bench/ai.py's
   load); metric `bench.requests` with --points points over the last 24 hours, tag
   `user` holding --tag-values different values; all rolled up.
2. gunicorn as `make run` starts it (the Procfile's web line: its worker class, threads
   and gunicorn_conf), 2 processes on 127.0.0.1. Each read --requests times on one
   connection: p50/p99 of `users/active?days=365`, `/advanced` with every window at
   its widest, `generation-speed?hours=168`, and the statistics and time series of
   `bench.requests` over 168 hours grouped by the 50,000-value tag.
3. Eight clients with one read key ask those reads in a loop for --seconds (after a
   refusal each waits 0.1 s: eight reads at once, not a flood), while one
   client asks `/api/v1/analytics/health` every 20 ms: health's p50/p99/max (budget
   50 ms) and what the eight got (200, 429 over API_READS_PER_KEY, 503
   read_too_costly).

    DEBUG=true .venv/bin/python bench/costly_reads.py [--events 150000] [--users 20000]
    DEBUG=true .venv/bin/python bench/costly_reads.py --skip-load  # the same data again

Exits non-zero (after FAIL) when a read answers neither 200 nor a documented refusal,
or health misses an answer.
"""

import argparse
import http.client
import random
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import orjson
import psycopg
from common import bench_main, bench_stack, fresh_stores, on_fresh_stack, pct, setup_django
from stack import Stack

API = "/api/v1/analytics"
HEALTH = f"{API}/health"
METRIC = "bench.requests"
READS = {
    "users/active?days=365": f"{API}/users/active?days=365",
    "advanced (widest)": f"{API}/advanced?ttft_hours=168&step_days=90&cache_hours=168"
    "&cost_hours=168&trending_limit=50",
    "generation-speed?hours=168": f"{API}/generation-speed?hours=168",
    "statistics by 50k-value tag": f"{API}/metrics/{METRIC}/statistics?hours=168&group_by=user",
    "time-series by 50k-value tag": f"{API}/metrics/{METRIC}/time-series?hours=168&group_by=user",
}
REFUSALS = {429: ("throttled",), 503: ("read_too_costly",)}
HEALTH_BUDGET_MS = 50.0
results: dict = {}


def seed_events(args) -> None:
    """--events events of 365 days from --users users, in one INSERT ... SELECT."""
    with psycopg.connect(args.db_url, autocommit=True) as db:
        db.execute(
            "INSERT INTO events_event (event_id, timestamp, received_at, event_type, user_id, "
            "family_unit_id, session_id, metadata) "
            "SELECT gen_random_uuid(), now() - random() * interval '365 days', now(), "
            "(ARRAY['login', 'page_view', 'scenario_started', 'quiz_taken'])"
            "[1 + floor(random() * 4)::int], "
            # power 2: a few users are seen often, most a few times
            "'user-' || floor(power(random(), 2) * %s)::int, '', "
            "'s-' || floor(random() * 1000000)::int, '{}'::jsonb "
            "FROM generate_series(1, %s)",
            [args.users, args.events],
        )
        users = db.execute("SELECT count(DISTINCT user_id) FROM events_event").fetchone()[0]
    print(f"load: {args.events:,} events of {users:,} users over 365 days", flush=True)


def seed_metric(args) -> None:
    """`bench.requests` points over 24 hours, tag `user` with --tag-values values; the AI
    load after this runs the pipeline's after-insert statements and the rollups for all."""
    from apps.metrics.schemas import tags_hash

    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    values = [f"u{n}" for n in range(args.tag_values)]
    hashes = {value: tags_hash({"user": value}) for value in values}
    columns = "event_id, timestamp, received_at, metric_name, metric_type, value, unit, tags, "
    columns += "tags_hash, source"
    with psycopg.connect(args.db_url, autocommit=True) as db, db.cursor() as cur:
        with cur.copy(f"COPY metrics_metricevent ({columns}) FROM STDIN") as copy:
            for n in range(args.points):
                value = values[n] if n < len(values) else rng.choice(values)  # each seen once
                copy.write_row(
                    [
                        uuid.UUID(int=rng.getrandbits(128), version=4),
                        now - timedelta(seconds=rng.uniform(60, 86400)),
                        now,
                        METRIC,
                        "timer",
                        round(rng.lognormvariate(4, 0.8), 2),
                        "ms",
                        orjson.dumps({"user": value}).decode(),
                        hashes[value],
                        "bench",
                    ]
                )
    print(f"load: {args.points:,} points of {METRIC}, {args.tag_values:,} tag values", flush=True)


def seed(args) -> None:
    import ai

    seed_events(args)
    seed_metric(args)
    ai.load(SimpleNamespace(db_url=args.db_url, records=args.ai_records, seed=args.seed))


def get(conn: http.client.HTTPConnection, path: str, key: str | None) -> tuple[int, dict]:
    conn.request("GET", path, headers={"X-API-Key": key} if key else {})
    response = conn.getresponse()
    return response.status, orjson.loads(response.read())


def timed_reads(args, port: int, key: str) -> list[str]:
    problems = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for name, path in READS.items():
        times, statuses = [], {}
        for _ in range(args.requests):
            t0 = time.perf_counter()
            status, body = get(conn, path, key)
            times.append((time.perf_counter() - t0) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            if status != 200:
                problems.extend(_unexpected(name, status, body))
        results[name] = {"p50": pct(times, 50), "p99": pct(times, 99), "statuses": statuses}
        print(f"read: {name}: p50 {pct(times, 50):.0f} ms, p99 {pct(times, 99):.0f} ms, {statuses}")
    conn.close()
    return problems


def _unexpected(name: str, status: int, body) -> list[str]:
    expected = REFUSALS.get(status)
    if expected and isinstance(body, dict) and body.get("error") in expected:
        return []
    return [f"{name} answered {status}: {body}"]


def under_attack(args, port: int, key: str) -> list[str]:
    """Eight clients, one key, the widest reads in a loop; health polled meanwhile."""
    stop = threading.Event()
    problems: list[str] = []
    counts: dict[str, int] = {}
    lock = threading.Lock()
    paths = list(READS.items())

    def attacker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        i = n
        while not stop.is_set():
            name, path = paths[i % len(paths)]
            i += 1
            try:
                status, body = get(conn, path, key)
            except OSError as exc:
                conn.close()
                with lock:
                    problems.append(f"{name}: {exc}")
                continue
            error = body.get("error", "") if isinstance(body, dict) else ""
            label = f"{status} {error}".strip()
            with lock:
                counts[label] = counts.get(label, 0) + 1
                if status != 200:
                    problems.extend(_unexpected(name, status, body))
            if status != 200:  # eight reads at once, not a flood (THROTTLE_RATE_READ's job)
                time.sleep(0.1)
        conn.close()

    threads = [threading.Thread(target=attacker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1)  # the eight are running
    health_ms, missed = [], 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            status, _body = get(conn, HEALTH, None)
        except OSError:
            conn.close()
            status = 0
        health_ms.append((time.perf_counter() - t0) * 1000)
        missed += status != 200
        time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join(timeout=150)
    results["health"] = {
        "n": len(health_ms),
        "p50": pct(health_ms, 50),
        "p99": pct(health_ms, 99),
        "max": max(health_ms),
        "missed": missed,
    }
    results["attack"] = counts
    print(
        f"attack: health x{len(health_ms)} while 8 clients read: p50 {pct(health_ms, 50):.1f} "
        f"ms, p99 {pct(health_ms, 99):.1f} ms, max {max(health_ms):.0f} ms; "
        f"not 200: {missed}"
    )
    print(f"attack: the eight got {dict(sorted(counts.items()))}")
    if missed:
        problems.append(f"health answered other than 200 {missed} time(s) under attack")
    return sorted(set(problems))[:20]


def run(args) -> list[str]:
    def body(stack: Stack) -> list[str]:
        if not args.skip_load:
            setup_django(args)
            seed(args)
        # Rates far above what the bench sends: it measures the concurrency caps.
        stack.overrides["THROTTLE_RATE_READ"] = "1000000/min"
        stack.start_web(workers=2)
        key = stack.manage_ok("create_api_key", "bench-reads", "--scope", "read").split()[-1]
        problems = timed_reads(args, stack.web_port, key)
        return problems + under_attack(args, stack.web_port, key)

    if not args.skip_load:
        return on_fresh_stack(args, body)
    stack = bench_stack(args)  # the data of the last run, as it is
    try:
        problems = body(stack)
    finally:
        stack.close()
    if not problems:
        stack.discard_logs()
    return problems


def print_summary() -> None:
    if "health" not in results:
        return
    print("\nsummary (ms):")
    for name in READS:
        if name in results:
            r = results[name]
            print(f"  {name:32} p50 {r['p50']:8.0f}  p99 {r['p99']:8.0f}")
    h = results["health"]
    print(
        f"  {'health under 8 costly readers':32} p50 {h['p50']:8.1f}  p99 {h['p99']:8.1f}  "
        f"max {h['max']:.0f} (budget {HEALTH_BUDGET_MS:.0f})"
    )


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    fresh_stores(parser, "analytics_bench_reads", 14)
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--ai-records", type=int, default=200_000)
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--tag-values", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=10, help="per read, one at a time")
    parser.add_argument("--seconds", type=float, default=15, help="of the eight-client attack")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--skip-load", action="store_true", help="read the database the last run loaded"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(
        lambda: run(args),
        ok="costly reads answered or refused in JSON; health answered throughout",
        summary=print_summary,
    )


if __name__ == "__main__":
    sys.exit(main())
