"""OTLP/HTTP metrics vs REST metric ingest: items/s stored, the same points both ways.

The stack as `make run` starts it (honcho: gunicorn, worker, beat) on a fresh
`analytics_bench_otlp` database. Rounds alternate between the two endpoints so the
machine's spread falls on both alike: --items metric points POSTed by 4 clients, 500 a
request, to `/api/v1/analytics/metrics/record` as `{"batch": [...]}` and to
`/otlp/v1/metrics` as an SDK exports them (protobuf ExportMetricsServiceRequest: a
gauge per series, 500 data points a request, resource `service.name`, one attribute),
timed from the first POST until every point is in the metric table.

    DEBUG=true .venv/bin/python bench/otlp.py [--items 50000] [--rounds 2]

Exits non-zero (after FAIL) when a POST is refused, a point is rejected, or an accepted
point is not stored.
"""

import random
import sys
from datetime import UTC, datetime, timedelta

from common import BenchError
from ingest_client import PostResult
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from protocol_rounds import Endpoint, Protocol, batches, main, rest_bodies

BATCH = 500
SERIES = 50  # label sets per metric: a request holds 10 points of each
REST_PATH = "/api/v1/analytics/metrics/record"
OTLP_PATH = "/otlp/v1/metrics"
PROTOBUF = "application/x-protobuf"


def points(n: int, rng: random.Random) -> list[tuple[int, float, datetime]]:
    """(series, value, time) of every point, the same for both endpoints."""
    now = datetime.now(UTC)
    return [
        (i % SERIES, round(rng.uniform(1, 500), 3), now - timedelta(seconds=rng.uniform(1, 600)))
        for i in range(n)
    ]


def rest_items(name: str, chosen: list) -> list[dict]:
    return [
        {
            "metric_name": name,
            "metric_type": "gauge",
            "value": value,
            "tags": {"service.name": "bench", "endpoint": f"/e/{series}"},
            "timestamp": at.isoformat(),
        }
        for series, value, at in chosen
    ]


def otlp_bodies(name: str, chosen: list) -> list[tuple[int, bytes]]:
    def attribute(key: str, value: str) -> common_pb2.KeyValue:
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))

    bodies = []
    for batch in batches(chosen, BATCH):
        data = [
            metrics_pb2.NumberDataPoint(
                time_unix_nano=int(at.timestamp() * 1e9),
                as_double=value,
                attributes=[attribute("endpoint", f"/e/{series}")],
            )
            for series, value, at in batch
        ]
        request = metrics_service_pb2.ExportMetricsServiceRequest(
            resource_metrics=[
                metrics_pb2.ResourceMetrics(
                    resource=resource_pb2.Resource(attributes=[attribute("service.name", "bench")]),
                    scope_metrics=[
                        metrics_pb2.ScopeMetrics(
                            metrics=[
                                metrics_pb2.Metric(
                                    name=name, gauge=metrics_pb2.Gauge(data_points=data)
                                )
                            ]
                        )
                    ],
                )
            ]
        )
        bodies.append((len(batch), request.SerializeToString()))
    return bodies


def otlp_accepted(result: PostResult) -> None:
    """None: the answer counts only the refused points; raises when the POST failed or
    any point was refused."""
    if result.status != 200:
        raise BenchError(f"{OTLP_PATH} answered {result.status}: {result.body[:300]!r}")
    response = metrics_service_pb2.ExportMetricsServiceResponse()
    response.ParseFromString(result.body)
    if response.partial_success.rejected_data_points:
        raise BenchError(f"{OTLP_PATH} refused points: {response.partial_success}")
    return None


def bodies(args, label: str, name: str, rng: random.Random, key: str) -> list[tuple[int, bytes]]:
    chosen = points(args.items, rng)
    if label == "rest":
        return rest_bodies(rest_items(name, chosen), BATCH)
    return otlp_bodies(name, chosen)


OTLP = Protocol(
    doc=__doc__,
    noun="point",
    redis_db=6,
    items=50_000,
    rest_path=REST_PATH,
    other=Endpoint("otlp", OTLP_PATH, read_answer=otlp_accepted, content_type=PROTOBUF),
    bodies=bodies,
    marker=lambda label, number: f"bench.{label}.{number}",
    stored_sql="SELECT count(*) FROM metrics_metricevent WHERE metric_name = %s",
    batch=BATCH,
    warm_up=("rest", "otlp"),
)

if __name__ == "__main__":
    sys.exit(main(OTLP))
