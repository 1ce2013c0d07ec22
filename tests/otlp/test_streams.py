"""Cumulative streams as deltas: resets, retries, exponential histograms that downscale,
and forgetting streams no sender reports any more."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from opentelemetry.proto.metrics.v1 import metrics_pb2

from apps.metrics.models import MetricPoint
from apps.otlp.models import CumulativeStream
from apps.otlp.streams import stream_forget
from apps.otlp.tasks import forget_streams
from tests.helpers import drain_outbox
from tests.otlp.payloads import CUMULATIVE, metrics_request, now_ns, post

pytestmark = pytest.mark.django_db

URL = "/otlp/v1/metrics"


def exponential(scale: int, offset: int, counts: list[int], *, at: int, start: int, total: float):
    point = metrics_pb2.ExponentialHistogramDataPoint(
        time_unix_nano=at,
        start_time_unix_nano=start,
        scale=scale,
        count=sum(counts),
        sum=total,
        positive=metrics_pb2.ExponentialHistogramDataPoint.Buckets(
            offset=offset, bucket_counts=counts
        ),
    )
    return metrics_pb2.Metric(
        name="rpc.duration",
        unit="s",
        exponential_histogram=metrics_pb2.ExponentialHistogram(
            data_points=[point], aggregation_temporality=CUMULATIVE
        ),
    )


def values() -> list[float]:
    drain_outbox()
    return sorted(MetricPoint.objects.values_list("value", flat=True))


def test_a_downscaled_cumulative_exponential_histogram_counts_only_the_new_values(
    ingest_client,
):
    start = now_ns(30)
    # Scale 3: buckets (2**(i/8), 2**((i+1)/8)]; 8..9 is (2, 2.18]. Then the SDK halves the
    # resolution (scale 2) as a value far away arrives: 8 -> bucket 4 at scale 2.
    first = exponential(3, 8, [2], at=now_ns(20), start=start, total=4.2)
    second = exponential(
        2, 4, [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], at=now_ns(10), start=start, total=21.7
    )

    post(ingest_client, URL, metrics_request(first))
    post(ingest_client, URL, metrics_request(second))

    stored = values()
    assert len(stored) == 3
    assert sum(stored) == pytest.approx(21.7)
    assert 2 ** (16 / 4) < stored[-1] <= 2 ** (17 / 4)  # the new value, in its bucket


def test_a_cumulative_histogram_that_goes_down_is_a_reset_not_negative(ingest_client):
    start = now_ns(30)
    high = exponential(3, 8, [5], at=now_ns(20), start=start, total=10.5)
    low = exponential(3, 8, [1], at=now_ns(10), start=start, total=2.1)

    post(ingest_client, URL, metrics_request(high))
    post(ingest_client, URL, metrics_request(low))

    stored = values()
    assert len(stored) == 6
    assert min(stored) > 0


def test_streams_not_seen_for_the_retention_are_forgotten(ingest_client, settings):
    settings.OTLP_STREAM_RETENTION_DAYS = 7
    post(
        ingest_client,
        URL,
        metrics_request(exponential(3, 8, [1], at=now_ns(5), start=now_ns(9), total=2.1)),
    )
    assert CumulativeStream.objects.count() == 1

    assert stream_forget() == 0
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        forget_streams()  # as beat sends it

    assert CumulativeStream.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_exports_of_a_new_streams_first_point_at_once_count_it_once():
    """The first holds the stream's row until it commits; the second, arriving meanwhile,
    waits for it, then finds the point already counted."""
    import threading

    from django.db import connection, transaction

    from apps.otlp.streams import Stream, streams_advance

    stream = Stream.of("jobs.done", "sum", {"service.name": "api"}, now_ns() - 10**9)
    point = [(0, stream, now_ns(), {"value": 5.0})]
    first_claimed, found = threading.Event(), {}

    def first() -> None:
        try:
            with transaction.atomic():
                found["first"] = streams_advance(points=point)
                first_claimed.set()
                second_thread.join(timeout=0.5)  # the second is blocked meanwhile
        finally:
            first_claimed.set()
            connection.close()

    def second() -> None:
        try:
            first_claimed.wait(5)
            with transaction.atomic():
                found["second"] = streams_advance(points=point)
        finally:
            connection.close()

    second_thread = threading.Thread(target=second)
    first_thread = threading.Thread(target=first)
    first_thread.start()
    second_thread.start()
    first_thread.join(10)
    second_thread.join(10)

    assert found == {"first": {0: {"value": 5.0}}, "second": {0: None}}
    assert CumulativeStream.objects.get().state == {"value": 5.0}
