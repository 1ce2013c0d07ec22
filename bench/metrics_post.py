"""The metrics bench's part 4: POST /api/v1/analytics/metrics/record, one metric per
request, sequentially, against gunicorn (2 workers, the project's gunicorn config) on the
bench database; every accepted metric must be in the outbox afterwards."""

import http.client
import random
import time

import orjson
import psutil
import psycopg
from common import BenchError, ingest_key, pct
from metrics_data import BENCH_METRIC, metric_specs
from stack import Stack, purge_queues

RECORD_PATH = "/api/v1/analytics/metrics/record"


def bench_post(args, stack: Stack) -> dict:
    key = ingest_key(stack, "bench-metrics", timeout=300)
    with psycopg.connect(args.db_url, autocommit=True) as db:
        db.execute("DELETE FROM ingest_outboxbatch WHERE kind = 'metric'")
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    rng = random.Random(7)
    endpoints = metric_specs()[0].label_sets
    try:
        stack.start_gunicorn(workers=2, timeout=60)
        conn = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=30)
        latencies: list[float] = []
        connects: list[float] = []
        closed = 0
        total = args.posts + 100
        for i in range(total):
            body = orjson.dumps(
                {
                    "metric_name": BENCH_METRIC,
                    "value": round(rng.lognormvariate(3.5, 0.9), 3),
                    "metric_type": "timer",
                    "unit": "ms",
                    "tags": endpoints[i % len(endpoints)],
                }
            )
            t0 = time.perf_counter()
            if conn.sock is None:
                conn.connect()
                connect_ms = (time.perf_counter() - t0) * 1000
            else:
                connect_ms = 0.0
            conn.request("POST", RECORD_PATH, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            elapsed = (time.perf_counter() - t0) * 1000
            if resp.status != 202:
                raise BenchError(f"POST {i}: HTTP {resp.status}: {data[:300]!r}")
            if resp.will_close:
                closed += 1  # http.client reconnects on the next request
            if i == 99:  # the first 100 warm both workers up
                busy_before = psutil.cpu_times()
            if i >= 100:
                latencies.append(elapsed)
                connects.append(connect_ms)
        busy_after = psutil.cpu_times()
        conn.close()
        with psycopg.connect(args.db_url) as db:
            (items,) = db.execute(
                "SELECT coalesce(sum(item_count), 0) FROM ingest_outboxbatch WHERE kind = 'metric'"
            ).fetchone()
        if items != total:
            raise BenchError(f"{items} metric items in the outbox after {total} accepted POSTs")
    except BenchError as exc:
        raise BenchError(f"{exc}\n{stack.tail('gunicorn', 30)}") from None
    finally:
        stack.stop("gunicorn", grace=20)
        purge_queues(args.redis_url)
    stack.discard_logs()  # kept only when something failed
    spent = sum(busy_after) - sum(busy_before)
    idle = (busy_after.idle + busy_after.iowait) - (busy_before.idle + busy_before.iowait)
    result = {
        "posts": len(latencies),
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
        "max": max(latencies),
        "connect_p50": pct(connects, 50),
        "connect_p99": pct(connects, 99),
        "reconnects": closed,
        "busy": 1 - idle / spent if spent else float("nan"),
    }
    print(
        f"record: {result['posts']} sequential POSTs (after 100 warm-up): p50 "
        f"{result['p50']:.2f} ms, p99 {result['p99']:.2f} ms, max {result['max']:.2f} ms"
    )
    print(
        f"record: the server closed the connection after {closed} of {total} responses "
        f"(each close costs the next POST a loopback connect: p50 "
        f"{result['connect_p50']:.2f} ms, p99 {result['connect_p99']:.2f} ms); machine "
        f"{result['busy']:.0%} busy meanwhile"
    )
    return result
