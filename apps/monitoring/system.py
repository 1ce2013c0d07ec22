"""This machine's figures (psutil), recorded every minute as gauges of the metrics
engine, so they get rollups, statistics and the built-in alert rules; and the items the
deployment accepted and rejected in that minute, as counters."""

import os
import socket
import time

import orjson
import psutil

from apps.core.redis import get_redis, redis_key
from apps.core.replica import replica_configured, replica_lag_seconds
from apps.ingest.selectors import items_outcome_totals
from apps.metrics.services import increment_counter, record_gauge

GIB = 1024**3
# Items accepted / rejected since the previous minute's reading (the deployment's, every
# web process counts into one Redis hash: no host tag). The console's ingest chart reads
# them; README's "Metric names this service records itself" lists them.
INGEST_COUNTERS = {"accepted": "ingest.accepted_items", "rejected": "ingest.rejected_items"}
REPLICA_UP, REPLICA_LAG = "database.replica_up", "database.replica_lag_seconds"
# A previous reading older than this (beat was stopped) is not subtracted from: its span's
# items in one point would draw as a spike of a rate that never was.
INGEST_READING_MAX_AGE_SECONDS = 300

# Primes psutil's CPU counter: a reading with no interval measures since the previous one.
psutil.cpu_percent(interval=None)


def system_figures(*, cpu_interval: float | None = 0.5) -> dict[str, float]:
    """CPU (measured over `cpu_interval` s, or since the previous reading with None),
    memory, root disk, uptime and 1-min load."""
    memory = psutil.virtual_memory()
    return {
        "cpu_percent": psutil.cpu_percent(interval=cpu_interval),
        "memory_percent": memory.percent,
        "memory_used_gb": round((memory.total - memory.available) / GIB, 3),
        "memory_total_gb": round(memory.total / GIB, 3),
        "disk_percent": psutil.disk_usage("/").percent,
        "uptime_seconds": round(time.time() - psutil.boot_time(), 1),
        "load_1m": os.getloadavg()[0],
    }


def host_name() -> str:
    return socket.gethostname()[:200]


def system_metrics_record() -> dict[str, float]:
    """Record each figure as `system.<name>`, tagged with this host, and the ingest
    counters (ingest_increments_record); returns the figures."""
    figures = system_figures()
    host = {"host": host_name()}
    for name, value in figures.items():
        record_gauge(f"system.{name}", value, labels=host)
    ingest_increments_record()
    replica_record()
    return figures


def replica_record() -> float | None:
    """With DATABASE_REPLICA_URL: `database.replica_up` (1, or 0 when it does not answer)
    and `database.replica_lag_seconds` (its replay behind the primary) as gauges, which
    the built-in rule "Read replica behind or down" watches. Returns the lag."""
    if not replica_configured():
        return None
    lag = replica_lag_seconds()
    record_gauge(REPLICA_UP, 0 if lag is None else 1)
    if lag is not None:
        record_gauge(REPLICA_LAG, lag)
    return lag


def ingest_increments_record() -> dict[str, int] | None:
    """Record the items accepted and rejected since the previous reading (kept in Redis,
    swapped atomically) as INGEST_COUNTERS increments, and return them. Nothing is recorded
    at the first reading, after one older than INGEST_READING_MAX_AGE_SECONDS, nor when a
    count went down (Redis restarted and lost them): a counter is never negative; the next
    minute counts from the new reading."""
    totals = items_outcome_totals()
    reading = {outcome: totals.get(outcome, 0) for outcome in INGEST_COUNTERS}
    key = redis_key("monitoring", "ingest_reading")
    previous = get_redis().set(key, orjson.dumps({**reading, "at": time.time()}), get=True)
    if previous is None:
        return None
    before = orjson.loads(previous)
    if time.time() - before.get("at", 0) > INGEST_READING_MAX_AGE_SECONDS:
        return None
    increments = {outcome: n - before.get(outcome, 0) for outcome, n in reading.items()}
    if any(n < 0 for n in increments.values()):
        return None
    for outcome, n in increments.items():
        increment_counter(INGEST_COUNTERS[outcome], n)
    return increments
