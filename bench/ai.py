"""AI usage benchmark: the dashboard reads over a million usage records, and ingest.

1. Reads. A fresh `analytics_bench_ai` database gets --records AI usage records over the
   last 7 days (4 assistants, 3 models, 6 features, 2,000 questions in 4 wordings each,
   pipeline steps on one record in five), COPYed in with what the pipeline derives from
   them: the hourly sums, question counts and ai.* metric series (its own after-insert
   statements, run over the table); the ai.* metrics, read from the rows, are rolled up
   with `backfill_rollups --jobs 2`. Then gunicorn (the project's config) answers `/advanced`
   (defaults; one assistant; all windows at their widest) and the single reads, each
   asked --requests times on one kept-alive connection: p50/p99 (goal: `/advanced`
   under 200 ms p50).
2. Ingest. The stack as `make run` starts it (honcho: gunicorn, worker, beat);
   --ingest items POSTed to `/log-ai-usage` in batches of 500 by 4 clients, timed from
   the first POST until every item is in its table, with its hours, questions and
   ai.* metric series and marks.

    DEBUG=true .venv/bin/python bench/ai.py [--records 1000000] [--ingest 100000]

Exits non-zero (after FAIL) when a read is not 200, the cost total differs from the one
computed from the rows, or an accepted item is not stored.
"""

import argparse
import http.client
import io
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from common import (
    BenchError,
    bench_main,
    fresh_stores,
    ingest_key,
    on_fresh_stack,
    pct,
    setup_django,
)
from ingest import cpu_snapshot, cpu_used
from ingest_client import check_responses, send_all
from stack import Stack

ASSISTANTS = [uuid.UUID(int=n * 7919 + 1) for n in range(4)]
MODELS = ("gpt-4o", "gpt-4o-mini", "mistral:7b")
FEATURES = ("chat", "grammar", "quiz", "voice", "scenario", "search")
WORDINGS = ("How do I {}?", "how do i {}", "HOW DO I {}??", "Hey, how do I {}?")
LOG_PATH = "/api/v1/analytics/log-ai-usage"
STACK_ROLES = ("web (gunicorn)", "worker (celery)", "postgres (bench db)")
USAGE_COLUMNS = (
    "event_id", "timestamp", "received_at", "feature", "model", "assistant_id",
    "assistant_name", "user_id", "conversation_id", "success", "error", "response_time_ms",
    "ttft_ms", "generation_ms", "tokens_in", "tokens_out", "cached_tokens", "cache_hit",
    "steps", "question", "question_key", "metadata",
)  # fmt: skip


def usage_item(rng: random.Random, at: datetime, feature: str | None = None) -> dict:
    assistant = rng.randrange(len(ASSISTANTS))
    tokens_in = rng.randint(50, 4000)
    item = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "timestamp": at.isoformat(),
        "feature": feature or rng.choice(FEATURES),
        "model": rng.choice(MODELS),
        "assistant_id": str(ASSISTANTS[assistant]),
        "assistant_name": f"assistant-{assistant}",
        "user_id": f"user-{rng.randint(1, 5000)}",
        "conversation_id": f"conv-{rng.randint(1, 50000)}",
        "success": rng.random() < 0.95,
        "response_time_ms": round(rng.lognormvariate(7.2, 0.6), 1),
        "ttft_ms": round(rng.lognormvariate(5.8, 0.7), 1),
        "tokens_in": tokens_in,
        "tokens_out": rng.randint(10, 800),
        "cached_tokens": rng.randint(0, tokens_in) if rng.random() < 0.3 else 0,
        "cache_hit": rng.random() < 0.2,
        "question": rng.choice(WORDINGS).format(f"do task {int(rng.paretovariate(1.2)) % 2000}"),
    }
    if rng.random() < 0.2:
        item["steps"] = [
            {"name": "retrieve", "duration_ms": round(rng.uniform(20, 200), 1), "tokens_in": 30},
            {"name": "generate", "duration_ms": round(rng.uniform(300, 3000), 1),
             "tokens_in": tokens_in, "tokens_out": item["tokens_out"]},
        ]  # fmt: skip
    return item


class _Request:
    """Stands for the request enrich_usage reads its prices once for."""


def load(args) -> dict:
    """COPY the records and their derived rows; returns (records, ai.* points, seconds)."""
    from django.db import connection

    from apps.ai.schemas import AiUsageIn, enrich_usage
    from apps.ingest.registry import get_kind
    from apps.metrics.sources import points_relation

    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    request = _Request()
    started = time.perf_counter()
    with psycopg.connect(args.db_url, autocommit=True) as db, db.cursor() as cur:
        for chunk_start in range(0, args.records, 100_000):
            n = min(100_000, args.records - chunk_start)
            rows = []
            for _ in range(n):
                at = now - timedelta(seconds=rng.uniform(60, 7 * 86400))
                row = AiUsageIn.model_validate(usage_item(rng, at)).model_dump()
                row["received_at"] = now
                enrich_usage(row, request)  # the prices read once for all
                rows.append(row)
            usage_copy = f"COPY ai_aiusage ({', '.join(USAGE_COLUMNS)}) FROM STDIN"
            with cur.copy(usage_copy) as copy:
                for row in rows:
                    copy.write_row(
                        [
                            orjson.dumps(row[c]).decode() if c in ("steps", "metadata") else row[c]
                            for c in USAGE_COLUMNS
                        ]
                    )
            print(f"load: {chunk_start + n:,} records", flush=True)
    with connection.cursor() as cursor:  # what the pipeline runs at insert, over the table
        for statement in get_kind("ai_usage").after_insert:
            cursor.execute(f"WITH inserted AS (SELECT * FROM ai_aiusage) {statement}")
        # The minutes just marked are rolled below, all at once.
        cursor.execute("TRUNCATE metrics_dirtyminute")
        cursor.execute(f"SELECT count(*) FROM {points_relation()} p WHERE metric_name LIKE 'ai.%%'")
        (points,) = cursor.fetchone()
    from django.core.management import call_command

    call_command(
        "backfill_rollups",
        since=(now - timedelta(days=8)).isoformat(),
        until=now.isoformat(),
        jobs=2,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    seconds = time.perf_counter() - started
    print(
        f"load: {args.records:,} records and {points:,} points loaded and rolled up "
        f"in {seconds:.0f} s"
    )
    return {"records": args.records, "points": points, "seconds": seconds}


def timed_reads(args, port: int, key: str) -> dict[str, dict]:
    reads = {
        "/advanced (defaults)": "/api/v1/analytics/advanced",
        "/advanced, one assistant": f"/api/v1/analytics/advanced?assistant_id={ASSISTANTS[1]}",
        "/advanced, widest windows": "/api/v1/analytics/advanced?ttft_hours=168&step_days=90"
        "&cache_hours=168&cost_hours=168&trending_limit=50",
        "/costs?hours=168": "/api/v1/analytics/costs?hours=168",
        "/trending": "/api/v1/analytics/trending",
        "/ttft": "/api/v1/analytics/ttft",
        "/ai-features": "/api/v1/analytics/ai-features",
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {key}"}
    results = {}
    for label, path in reads.items():
        latencies = []
        for i in range(args.requests + 3):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise BenchError(f"{path} answered {response.status}: {body[:300]!r}")
            if i >= 3:  # the first answers warm the caches
                latencies.append((time.perf_counter() - started) * 1000)
        results[label] = {"p50": pct(latencies, 50), "p99": pct(latencies, 99), "body": body}
        print(
            f"read {label}: p50 {results[label]['p50']:.1f} ms, p99 {results[label]['p99']:.1f} ms"
        )
    conn.close()
    return results


def check_costs(args, results: dict) -> list[str]:
    """The widest /costs token totals against the rows themselves."""
    costs = orjson.loads(results["/costs?hours=168"]["body"])
    with psycopg.connect(args.db_url) as db:
        (tokens,) = db.execute(
            "SELECT sum(tokens_in + tokens_out) FROM ai_aiusage "
            "WHERE timestamp >= now() - interval '168 hours'"
        ).fetchone()
    answered = sum(c["total_tokens"] for c in costs)
    # The rows are read a moment after the answer: the window moved by that moment.
    if abs(answered - tokens) > tokens * 0.001:
        return [f"/costs counted {answered:,} tokens, the rows hold {tokens:,}"]
    return []


def bench_reads(args, stack: Stack) -> list[str]:
    args.results["load"] = load(args)
    stack.start_gunicorn(workers=2)
    key = stack.manage_ok("create_api_key", "bench-read", "--scope", "read").split()[-1]
    args.results["reads"] = timed_reads(args, stack.web_port, key)
    problems = check_costs(args, args.results["reads"])
    stack.stop("gunicorn")
    if args.results["reads"]["/advanced (defaults)"]["p50"] > 200:
        problems.append("/advanced p50 above 200 ms")
    return problems


def bench_ingest(args, stack: Stack) -> list[str]:
    rng = random.Random(args.seed + 1)
    now = datetime.now(UTC)
    items = [usage_item(rng, now - timedelta(minutes=rng.uniform(1, 60)), "bench-ingest")
             for _ in range(args.ingest)]  # fmt: skip
    bodies = [
        (len(items[i : i + 500]), orjson.dumps({"batch": items[i : i + 500]}))
        for i in range(0, len(items), 500)
    ]
    key = ingest_key(stack, "bench-ingest", timeout=60)
    stack.start_honcho()
    deadline = time.monotonic() + 600
    dbname = args.db_url.rsplit("/", 1)[-1]
    cpu_before = cpu_snapshot(stack, dbname)
    report = send_all(stack.web_port, key, bodies, 4, deadline, path=LOG_PATH)
    accepted = check_responses(report, len(bodies), args.ingest)
    with psycopg.connect(args.db_url, autocommit=True) as db:
        while True:
            (pending,) = db.execute(
                "SELECT count(*) FROM ingest_outboxbatch WHERE failed_at IS NULL"
            ).fetchone()
            if pending == 0:
                done = time.perf_counter()
                break
            if time.monotonic() > deadline:
                raise BenchError(f"{pending} outbox rows still waiting after 600 s")
            time.sleep(0.05)
        (stored,) = db.execute(
            "SELECT count(*) FROM ai_aiusage WHERE feature = 'bench-ingest'"
        ).fetchone()
    # Web, worker and the bench database's backends: a figure other programs sharing
    # the machine move less than the rate.
    used = {
        role: seconds / max(stored, 1) * 1e6
        for role, seconds in cpu_used(cpu_before, cpu_snapshot(stack, dbname)).items()
    }
    stack_us = sum(used.get(role, 0.0) for role in STACK_ROLES)
    stack.stop("honcho")
    seconds = done - report.started
    args.results["ingest"] = {
        "items": stored,
        "rate": stored / seconds,
        "seconds": seconds,
        "cpu_us": stack_us,
    }
    shares = ", ".join(f"{role} {used.get(role, 0.0):.0f}" for role in STACK_ROLES)
    print(
        f"ingest: {stored:,} AI usage items stored in {seconds:.1f} s: "
        f"{stored / seconds:,.0f} items/s; {stack_us:.0f} CPU-us per item ({shares})"
    )
    return [] if stored == accepted else [f"{accepted} accepted but {stored} stored"]


def print_summary(args) -> None:
    print("\n| figure | value |\n|---|---|")
    if "load" in args.results:
        load_ = args.results["load"]
        print(
            f"| records loaded (ai.* metric points read from them) | {load_['records']:,} "
            f"({load_['points']:,}) |"
        )
    for label, read in args.results.get("reads", {}).items():
        print(f"| `{label}` p50 / p99 | {read['p50']:.1f} / {read['p99']:.1f} ms |")
    if "ingest" in args.results:
        ingest = args.results["ingest"]
        print(
            f"| `/log-ai-usage` ingest, stored | {ingest['rate']:,.0f} items/s, "
            f"{ingest['cpu_us']:.0f} stack CPU-us per item |"
        )


def run(args) -> list[str]:
    def body(stack: Stack) -> list[str]:
        setup_django(args)
        from django.conf import settings

        settings.DEBUG = False  # no query log while loading and timing
        problems = bench_reads(args, stack) if args.records else []
        return problems + (bench_ingest(args, stack) if args.ingest else [])

    return on_fresh_stack(args, body)


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--ingest", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30, help="timed asks of each read")
    parser.add_argument("--seed", type=int, default=7)
    fresh_stores(parser, "analytics_bench_ai", 10)
    args = parser.parse_args(argv)
    if args.records < 0 or args.ingest < 0 or args.requests < 1:
        parser.error("need --records >= 0, --ingest >= 0, --requests >= 1")
    args.results = {}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main(
        lambda: run(args),
        ok="every read answered 200 and agreed with the rows; every item was stored.",
        summary=lambda: print_summary(args),
    )


if __name__ == "__main__":
    sys.exit(main())
