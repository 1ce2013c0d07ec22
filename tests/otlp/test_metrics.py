"""POST /otlp/v1/metrics: what an OpenTelemetry SDK's metrics become, and how it is answered."""

import gzip

import orjson
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from rest_framework.test import APIClient

from apps.keys.throttling import KeyRateThrottle
from apps.metrics.models import MetricPoint
from apps.metrics.rollups import rollup_pending
from apps.otlp.models import CumulativeStream
from tests.helpers import drain_outbox
from tests.otlp.payloads import (
    DELTA,
    JSON,
    PROTOBUF,
    gauge,
    histogram,
    histogram_point,
    metrics_request,
    now_ns,
    number,
    post,
    total,
)

pytestmark = pytest.mark.django_db

URL = "/otlp/v1/metrics"


def answer(response) -> metrics_service_pb2.ExportMetricsServiceResponse:
    message = metrics_service_pb2.ExportMetricsServiceResponse()
    if response["Content-Type"].startswith(JSON):
        json_format.Parse(response.content, message)
    else:
        message.ParseFromString(response.content)
    return message


def stored(name: str) -> list[float]:
    drain_outbox()
    return sorted(MetricPoint.objects.filter(metric_name=name).values_list("value", flat=True))


def statistics(read_client, name: str, **query) -> dict:
    rollup_pending()
    query = {"hours": 24, **query}
    return read_client.get(f"/api/v1/analytics/metrics/{name}/statistics", query).json()


def test_gauge_lands_with_service_name_and_attributes_as_tags(ingest_client, read_client):
    message = metrics_request(
        gauge("queue.depth", number(7, at=now_ns(5), queue="emails")),
        service="mailer",
        deployment__environment="prod",
    )

    response = post(ingest_client, URL, message)

    assert response.status_code == 200
    assert response["Content-Type"] == PROTOBUF
    assert not answer(response).HasField("partial_success")
    assert stored("queue.depth") == [7.0]
    point = MetricPoint.objects.get()
    assert point.metric_type == "gauge"
    assert point.tags == {
        "service.name": "mailer",
        "queue": "emails",
        "deployment.environment": "prod",
    }
    body = statistics(read_client, "queue.depth", tag="service.name:mailer")
    assert (body["count"], body["max"]) == (1, 7.0)


def test_json_body_as_the_javascript_exporter_sends_it_is_answered_in_json(ingest_client):
    at = now_ns(2)
    body = {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "web"}}],
                    "droppedAttributesCount": 0,
                },
                "scopeMetrics": [
                    {
                        "scope": {"name": "example", "version": ""},
                        "metrics": [
                            {
                                "name": "http.server.active_requests",
                                "description": "",
                                "unit": "{request}",
                                "sum": {
                                    "aggregationTemporality": 1,
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "attributes": [],
                                            "startTimeUnixNano": str(at - 10**10),
                                            "timeUnixNano": str(at),
                                            "asInt": "3",
                                            "someFutureField": {"x": 1},
                                        }
                                    ],
                                },
                            }
                        ],
                    }
                ],
            }
        ]
    }

    response = post(ingest_client, URL, orjson.dumps(body), JSON)

    assert response.status_code == 200
    assert response["Content-Type"] == JSON
    assert orjson.loads(response.content) == {}
    assert stored("http.server.active_requests") == [3.0]
    assert MetricPoint.objects.get().metric_type == "counter"


def test_gzip_bodies_are_read(ingest_client):
    message = metrics_request(gauge("cpu", number(0.5, at=now_ns(1))))

    response = post(ingest_client, URL, message, gzipped=True)

    assert response.status_code == 200
    assert stored("cpu") == [0.5]


def test_cumulative_sum_becomes_deltas_and_a_restart_is_not_negative(ingest_client, read_client):
    start = now_ns(30)
    sends = [(start, 10, 25), (start, 12, 40), (start, 14, 40), (now_ns(10), 16, 5)]
    for started, minutes, value in sends:
        at = now_ns(30 - minutes)
        message = metrics_request(
            total("http.requests", number(value, at=at, start=started, route="/a"))
        )
        assert post(ingest_client, URL, message).status_code == 200

    # 25 since the start, +15, +0, then a new process (new start time) counted from zero.
    assert stored("http.requests") == [0.0, 5.0, 15.0, 25.0]
    body = statistics(read_client, "http.requests")
    assert body["sum"] == 45.0
    assert CumulativeStream.objects.count() == 2


def test_the_same_export_sent_twice_counts_once(ingest_client):
    start = now_ns(20)
    message = metrics_request(
        total("jobs.done", number(5, at=now_ns(10), start=start)),
        gauge("temperature", number(21.5, at=now_ns(10))),
        histogram("latency", histogram_point([10, 100], [1, 1, 0], at=now_ns(10), sum=60.0)),
    )

    post(ingest_client, URL, message)
    post(ingest_client, URL, message)

    assert stored("jobs.done") == [5.0]
    assert stored("temperature") == [21.5]
    assert len(stored("latency")) == 2


def test_cumulative_without_start_time_only_sets_the_baseline(ingest_client):
    for minutes, value in ((10, 100), (5, 130)):
        message = metrics_request(total("bytes.sent", number(value, at=now_ns(minutes))))
        post(ingest_client, URL, message)

    assert stored("bytes.sent") == [30.0]


def test_delta_sums_are_increments_and_up_down_counters_are_levels(ingest_client):
    message = metrics_request(
        total("orders", number(4, at=now_ns(3)), temporality=DELTA),
        total("connections", number(-2, at=now_ns(3), start=now_ns(9)), monotonic=False),
    )

    post(ingest_client, URL, message)

    assert stored("orders") == [4.0]
    assert MetricPoint.objects.get(metric_name="orders").metric_type == "counter"
    assert stored("connections") == [-2.0]
    assert MetricPoint.objects.get(metric_name="connections").metric_type == "gauge"


def test_histogram_keeps_count_sum_min_and_max_exact(ingest_client, read_client):
    point = histogram_point(
        [5, 10, 25, 50],
        [2, 3, 4, 1, 0],
        at=now_ns(5),
        sum=173.0,
        min=1.5,
        max=30.0,
        http__route="/checkout",
    )
    post(ingest_client, URL, metrics_request(histogram("http.server.request.duration", point)))

    values = stored("http.server.request.duration")
    assert len(values) == 10
    assert (values[0], values[-1]) == (1.5, 30.0)
    assert MetricPoint.objects.first().metric_type == "timer"
    body = statistics(read_client, "http.server.request.duration", tag="http.route:/checkout")
    assert body["count"] == 10
    assert body["sum"] == pytest.approx(173.0)
    assert (body["min"], body["max"]) == (1.5, 30.0)
    # Each observation stays in its bucket: the median of 10 lies in (10, 25].
    assert 10 < body["p50"] <= 25


def test_cumulative_histogram_counts_each_export_s_new_observations(ingest_client):
    start = now_ns(30)
    first = histogram_point([10], [1, 1], at=now_ns(20), start=start, sum=25.0)
    second = histogram_point([10], [3, 1], at=now_ns(10), start=start, sum=33.0)
    for point in (first, second):
        message = metrics_request(
            histogram(
                "db.query.duration",
                point,
                temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE,
            )
        )
        post(ingest_client, URL, message)

    values = stored("db.query.duration")
    assert len(values) == 4
    assert sum(values) == pytest.approx(33.0)


def test_exponential_histogram_values_lie_within_one_percent_of_their_bucket(ingest_client):
    base = 2 ** (2**-6)
    data = metrics_pb2.ExponentialHistogramDataPoint(
        time_unix_nano=now_ns(2),
        scale=6,
        count=3,
        zero_count=0,
        positive=metrics_pb2.ExponentialHistogramDataPoint.Buckets(
            offset=400, bucket_counts=[2, 1]
        ),
    )
    metric = metrics_pb2.Metric(
        name="payload.size",
        unit="By",
        exponential_histogram=metrics_pb2.ExponentialHistogram(
            data_points=[data], aggregation_temporality=DELTA
        ),
    )

    post(ingest_client, URL, metrics_request(metric))

    values = stored("payload.size")
    assert len(values) == 3
    for value, index in zip(values, (400, 400, 401), strict=True):
        assert base**index < value <= base ** (index + 1)
        assert value == pytest.approx(base**index, rel=0.01)
    assert MetricPoint.objects.first().metric_type == "histogram"


def test_summary_becomes_its_quantiles(ingest_client):
    point = metrics_pb2.SummaryDataPoint(
        time_unix_nano=now_ns(2),
        count=100,
        sum=500.0,
        quantile_values=[
            metrics_pb2.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=4.0),
            metrics_pb2.SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=20.0),
        ],
    )
    metric = metrics_pb2.Metric(name="gc.pause", summary=metrics_pb2.Summary(data_points=[point]))

    post(ingest_client, URL, metrics_request(metric))

    assert stored("gc.pause") == [4.0, 20.0]
    quantiles = {p.tags["quantile"]: p.value for p in MetricPoint.objects.all()}
    assert quantiles == {"0.5": 4.0, "0.99": 20.0}


def test_refused_points_are_counted_in_partial_success(ingest_client):
    message = metrics_request(
        gauge("ok", number(1.0, at=now_ns(1))),
        gauge("too.old", number(1.0, at=now_ns(60 * 24 * 400))),
        gauge("not.a.number", number(float("nan"), at=now_ns(1))),
    )

    response = post(ingest_client, URL, message, JSON)

    assert response.status_code == 200
    partial = answer(response).partial_success
    assert partial.rejected_data_points == 2
    assert "too.old: timestamp: Older than the retention window." in partial.error_message
    assert "not.a.number" in partial.error_message
    assert stored("ok") == [1.0]


def test_a_request_whose_every_point_is_refused_still_answers_200(ingest_client):
    message = metrics_request(gauge("too.old", number(1.0, at=now_ns(60 * 24 * 400))))

    response = post(ingest_client, URL, message)

    assert response.status_code == 200
    assert answer(response).partial_success.rejected_data_points == 1


def test_names_and_tags_the_store_refuses_are_adapted_not_dropped(ingest_client):
    message = metrics_request(gauge("requests/s", number(2.0, at=now_ns(1), **{"9lives": "x"})))

    post(ingest_client, URL, message)

    point = MetricPoint.objects.get() if stored("requests_s") else None
    assert point is not None and point.tags["_9lives"] == "x"


@pytest.mark.parametrize(
    ("body", "content_type", "encoding"),
    [
        (b"\xff\xff\xff not protobuf", PROTOBUF, None),
        (b'{"resourceMetrics": 3}', JSON, None),
        (b"{not json", JSON, None),
        (b"[1, 2]", JSON, None),
        (
            b'{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"asInt":"x"}]}}]}]}]}',
            JSON,
            None,
        ),
        (b"not gzip at all", PROTOBUF, "gzip"),
    ],
)
def test_a_body_that_does_not_parse_is_a_400_status_in_the_request_encoding(
    ingest_client, body, content_type, encoding
):
    extra = {"HTTP_CONTENT_ENCODING": encoding} if encoding else {}

    response = ingest_client.generic("POST", URL, body, content_type=content_type, **extra)

    assert response.status_code == 400
    assert response["Content-Type"] == content_type
    status = status_pb2.Status()
    if content_type == JSON:
        json_format.Parse(response.content, status)
    else:
        status.ParseFromString(response.content)
    assert status.code == 3 and status.message


def test_other_content_types_are_a_415(ingest_client):
    response = ingest_client.generic("POST", URL, b"a=b", content_type="text/csv")

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_an_oversized_body_is_a_413(ingest_client, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048
    message = metrics_request(
        *[gauge(f"m{i}", number(1.0, at=now_ns(1), label="x" * 50)) for i in range(100)]
    )

    assert post(ingest_client, URL, message).status_code == 413
    assert (
        post(
            ingest_client,
            URL,
            gzip.compress(message.SerializeToString()),
            HTTP_CONTENT_ENCODING="gzip",
        ).status_code
        == 413
    )


def test_keys_are_required_and_must_be_ingest_keys(read_key, ingest_key):
    message = metrics_request(gauge("x", number(1.0, at=now_ns(1))))

    assert post(APIClient(), URL, message).status_code == 401
    assert post(APIClient(), URL, message, HTTP_X_API_KEY="nope.nope").status_code == 401
    assert (
        post(APIClient(), URL, message, HTTP_AUTHORIZATION=f"Bearer {read_key}").status_code == 403
    )
    bearer = post(APIClient(), URL, message, HTTP_AUTHORIZATION=f"Bearer {ingest_key}")
    assert bearer.status_code == 200


def test_the_ingest_rate_limit_is_a_429_with_retry_after(ingest_client, monkeypatch):
    monkeypatch.setattr(KeyRateThrottle, "THROTTLE_RATES", {"ingest": "1/min", "read": "1/min"})
    message = metrics_request(gauge("x", number(1.0, at=now_ns(1))))

    first, second = post(ingest_client, URL, message), post(ingest_client, URL, message)

    assert first.status_code == 200
    assert (second.status_code, second.json()["error"]) == (429, "throttled")
    assert int(second["Retry-After"]) >= 1


def test_genai_token_usage_keeps_its_token_type_tag(ingest_client, read_client):
    at = now_ns(5)
    points = [
        histogram_point([100, 1000], [0, 0, 1], at=at, sum=1200.0, gen_ai__token__type="input"),
        histogram_point([100, 1000], [0, 1, 0], at=at, sum=300.0, gen_ai__token__type="output"),
    ]
    metric = histogram("gen_ai.client.token.usage", *points, unit="{token}")
    post(ingest_client, URL, metrics_request(metric))

    drain_outbox()
    body = statistics(read_client, "gen_ai.client.token.usage", tag="gen_ai.token.type:input")
    assert (body["count"], body["sum"]) == (1, 1200.0)


@pytest.mark.parametrize("accept", [PROTOBUF, JSON, "text/html", "image/*", "*/*"])
def test_any_accept_header_is_answered_never_a_406(ingest_client, accept):
    """Exporters may send `Accept: application/x-protobuf`; the answer's encoding is the
    request's whatever they ask for (it used to be a 406 from content negotiation)."""
    body = metrics_request(gauge("g", number(1.0, at=now_ns(1))))

    answered = post(ingest_client, URL, body, HTTP_ACCEPT=accept)
    refused = APIClient().generic(
        "POST", URL, body.SerializeToString(), content_type=PROTOBUF, HTTP_ACCEPT=accept
    )

    assert (answered.status_code, answered["Content-Type"]) == (200, PROTOBUF)
    assert (refused.status_code, refused.json()["error"]) == (401, "not_authenticated")
