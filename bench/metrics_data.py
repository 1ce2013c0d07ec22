"""The metrics bench's data: 20 metrics, their label sets and value distributions, and
the COPY text of their points, generated minute by minute in time order.

What is generated and how it is laid out is described in metrics.py's docstring (part 1);
the constants below are what the other parts of the bench read it by.
"""

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

DAYS = 30  # loaded by default (--days); the reads' widest window either way
EVENTS = "metrics_metricevent"
BLOCKS = "metrics_pointblock"  # points packed once their hour is over (apps.metrics.packing)
# Every stored point, rows and packed alike, with its tags: what the raw answers read.
RAW_POINTS = (
    f'(SELECT metric_name, "timestamp", value, tags_hash, tags FROM {EVENTS} UNION ALL '
    f"SELECT b.metric_name, u.t, u.v, b.tags_hash, s.tags FROM {BLOCKS} b "
    "JOIN metrics_metricseries s ON s.metric_name = b.metric_name AND s.tags_hash = b.tags_hash "
    "CROSS JOIN LATERAL unnest(b.times, b.vals) AS u(t, v)) AS e"
)
BENCH_METRIC = "http.server.duration"  # the busiest metric: worst case for raw reads
BENCH_TAGS = {"endpoint": "/api/v1/orders"}  # 2 of its 5 label sets (GET and POST)
SOURCE = "bench"


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _clamp(low: float, high: float, draw: Callable[[], float]) -> Callable[[], float]:
    return lambda: min(high, max(low, draw()))


@dataclass
class MetricSpec:
    name: str
    metric_type: str
    unit: str
    label_sets: list[dict[str, str]]
    weight: float
    make_draw: Callable[[random.Random], Callable[[], float | int]]


def metric_specs() -> list[MetricSpec]:
    """20 metrics; `make_draw(rng)` returns a zero-argument sampler of one value."""
    endpoints = [
        {"endpoint": "/api/v1/orders", "method": "GET"},
        {"endpoint": "/api/v1/orders", "method": "POST"},
        {"endpoint": "/api/v1/users", "method": "GET"},
        {"endpoint": "/api/v1/search", "method": "GET"},
        {"endpoint": "/api/v1/login", "method": "POST"},
    ]
    regions = [{"region": r} for r in ("eu-west-1", "us-east-1", "ap-south-1", "sa-east-1")]
    hosts = [{"host": f"web-{i}"} for i in range(1, 5)]
    queues = [{"queue": q} for q in ("ingest", "default", "alerts")]

    def lognormal(mu: float, sigma: float):
        return lambda rng: lambda f=rng.lognormvariate: f(mu, sigma)

    def bimodal(rng: random.Random):
        rand, logn = rng.random, rng.lognormvariate
        return lambda: logn(2.0, 0.3) if rand() < 0.9 else logn(6.0, 0.5)

    return [
        MetricSpec("http.server.duration", "timer", "ms", endpoints, 3, lognormal(3.5, 0.9)),
        MetricSpec(
            "http.client.duration",
            "timer",
            "ms",
            [{"service": s} for s in ("billing", "auth", "geo", "mail")],
            1,
            lognormal(4.2, 1.1),
        ),
        MetricSpec(
            "db.query.duration",
            "timer",
            "ms",
            [
                {"table": t, "op": o}
                for t, o in (("orders", "select"), ("orders", "insert"), ("users", "select"))
            ]
            + [{"table": "events", "op": "insert"}, {"table": "events", "op": "select"}],
            1.5,
            lognormal(1.0, 1.3),
        ),
        MetricSpec(
            "cache.get.duration",
            "timer",
            "ms",
            [{"cache": c} for c in ("redis", "local", "cdn")],
            1,
            lognormal(-1.5, 0.6),
        ),
        MetricSpec("queue.wait_time", "timer", "s", queues, 1, lognormal(0.0, 1.5)),
        MetricSpec(
            "job.duration",
            "histogram",
            "s",
            [{"job_type": j} for j in ("restart", "firmware", "config", "logs", "reboot")],
            1,
            lognormal(3.0, 0.7),
        ),
        MetricSpec(
            "http.payload.size",
            "histogram",
            "bytes",
            endpoints[:4],
            1,
            lognormal(8.0, 1.8),
        ),
        MetricSpec(
            "cpu.usage",
            "gauge",
            "percent",
            hosts,
            1,
            lambda rng: _clamp(0.0, 100.0, lambda f=rng.gauss: f(45.0, 20.0)),
        ),
        MetricSpec(
            "memory.used",
            "gauge",
            "bytes",
            hosts,
            1,
            lambda rng: lambda f=rng.gauss: abs(f(6e9, 1e9)),
        ),
        MetricSpec(
            "disk.free",
            "gauge",
            "bytes",
            hosts[:3],
            0.5,
            lambda rng: lambda f=rng.uniform: f(1e10, 5e11),
        ),
        MetricSpec(
            "temperature",
            "gauge",
            "celsius",
            regions,
            1,
            lambda rng: lambda f=rng.gauss: f(5.0, 12.0),  # about a third below zero
        ),
        MetricSpec(
            "queue.depth",
            "gauge",
            "count",
            queues,
            1,
            lambda rng: lambda f=rng.expovariate: int(f(1 / 40)),
        ),
        MetricSpec(
            "connections.active",
            "gauge",
            "count",
            regions[:3],
            1,
            lambda rng: lambda f=rng.gauss: max(0, int(f(120.0, 30.0))),
        ),
        MetricSpec(
            "http.requests",
            "counter",
            "count",
            endpoints,
            2,
            lambda rng: lambda f=rng.randint: f(0, 50),
        ),
        MetricSpec(
            "http.errors",
            "counter",
            "count",
            [{"status": s} for s in ("500", "502", "503")],
            1,
            lambda rng: lambda f=rng.expovariate: int(f(0.5)),  # mostly 0 and 1
        ),
        MetricSpec(
            "events.processed",
            "counter",
            "count",
            regions,
            1,
            lambda rng: lambda f=rng.randint: f(1, 1000),
        ),
        MetricSpec(
            "bytes.sent",
            "counter",
            "bytes",
            regions[:3],
            1,
            lambda rng: lambda f=rng.lognormvariate: int(f(10.0, 1.0)),
        ),
        MetricSpec(
            "login.attempts",
            "counter",
            "count",
            [{"result": r} for r in ("success", "failure", "locked")],
            0.5,
            lambda rng: lambda f=rng.randint: f(0, 5),
        ),
        MetricSpec(
            "battery.level",
            "gauge",
            "percent",
            [{"device_model": m} for m in ("a1", "a2", "b1", "c3", "x9")],
            1,
            lambda rng: lambda f=rng.uniform: f(0.0, 100.0),
        ),
        MetricSpec("p2p.latency", "timer", "ms", regions, 1, bimodal),
    ]


@dataclass
class Series:
    spec: MetricSpec
    tags: dict[str, str]
    tags_hash: int
    prefix: str  # COPY text between received_at and value
    suffix: str  # COPY text after value, newline included
    draw: Callable[[], float | int]


def build_series(rng: random.Random) -> list[Series]:
    from apps.metrics.schemas import tags_hash

    series = []
    for spec in metric_specs():
        draw = spec.make_draw(rng)
        for tags in spec.label_sets:
            tags_json = orjson.dumps(tags).decode()
            assert "\\" not in tags_json and "\t" not in tags_json  # COPY text needs no escapes
            series.append(
                Series(
                    spec=spec,
                    tags=tags,
                    tags_hash=tags_hash(tags),
                    prefix=f"\t{spec.name}\t{spec.metric_type}\t",
                    suffix=f"\t{spec.unit}\t{tags_json}\t{tags_hash(tags)}\t{SOURCE}\n",
                    draw=draw,
                )
            )
    return series


def generate(
    series: list[Series], rng: random.Random, points: int, start: datetime, minutes: int
) -> Iterator[tuple[datetime, int, bytes]]:
    """COPY text, one chunk per minute: (minute, rows, bytes), in time order.

    Each point goes to a series drawn by weight (a metric's weight split over its
    label sets), at a uniform random microsecond of its minute. event_id is a
    per-run random prefix plus a counter: unique, and appended at the right end of
    the unique index like time-ordered (v7) UUIDs. received_at = timestamp.
    """
    weights = [s.spec.weight / len(s.spec.label_sets) for s in series]
    cum = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    head = str(uuid.UUID(int=rng.getrandbits(128), version=4))[:24]  # 'xxxxxxxx-xxxx-4xxx-yxxx-'
    per_minute = points / minutes
    carry = 0.0
    n = 0
    rand, choices = rng.random, rng.choices
    for m in range(minutes):
        moment = start + timedelta(minutes=m)
        carry += per_minute
        k = int(carry + 1e-9) if m < minutes - 1 else points - n
        carry -= k
        if k <= 0:
            continue
        stamp = moment.strftime("%Y-%m-%d %H:%M:")
        lines = []
        for s in choices(series, cum_weights=cum, k=k):
            t = f"{stamp}{rand() * 59.999999:09.6f}+00"
            lines.append(f"{head}{n:012x}\t{t}\t{t}{s.prefix}{s.draw()!r}{s.suffix}")
            n += 1
        yield moment, k, "".join(lines).encode()
