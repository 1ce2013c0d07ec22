import pytest
from prometheus_client.parser import text_string_to_metric_families

from apps.metrics.rollups import rollup_pending
from tests.helpers import ago, drain_outbox, post_json

pytestmark = pytest.mark.django_db

RECORD = "/api/v1/analytics/metrics/record"
BASE = "/api/v1/analytics/metrics"


def record(client, items):
    response = post_json(client, RECORD, items)
    assert response.status_code == 202, response.json()
    drain_outbox()
    rollup_pending()


def point(name, value, metric_type="timer", minutes=10, **tags):
    return {
        "metric_name": name,
        "value": value,
        "metric_type": metric_type,
        "tags": tags,
        "timestamp": ago(minutes=minutes),
    }


def test_statistics_filter_by_every_tag_given(ingest_client, read_client):
    record(
        ingest_client,
        [
            point("api.response_time", 100, endpoint="/a", method="GET"),
            point("api.response_time", 200, endpoint="/a", method="POST"),
            point("api.response_time", 400, endpoint="/b", method="GET"),
        ],
    )
    url = f"{BASE}/api.response_time/statistics"

    assert read_client.get(url, {"hours": 1}).json()["count"] == 3
    only_a = read_client.get(url, {"hours": 1, "tag": "endpoint:/a"}).json()
    assert (only_a["count"], only_a["max"]) == (2, 200)
    both = read_client.get(f"{url}?hours=1&tag=endpoint:/a&tag=method:GET").json()
    assert (both["count"], both["sum"]) == (1, 100)
    none = read_client.get(url, {"hours": 1, "tag": "endpoint:/nowhere"}).json()
    assert (none["count"], none["p95"]) == (0, None)


@pytest.mark.parametrize("path", ["statistics", "time-series"])
@pytest.mark.parametrize(
    "query, field",
    [
        ("hours=0", "hours"),
        ("hours=721", "hours"),
        ("hours=", "hours"),
        ("hours=true", "hours"),
        ("hours=24&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z", "hours"),
        ("from=2026-11-01T00:00:00Z", "to"),
        ("to=2026-11-01T00:00:00Z", "from"),
        ("from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "to"),
        ("from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z", "to"),
        ("from=2019-01-01T00:00:00Z&to=2026-12-01T00:00:00Z", "from"),
        ("from=yesterday&to=2026-11-01T00:00:00Z", "from"),
        ("from=&to=2026-11-01T00:00:00Z", "from"),
        ("from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z", "from"),
        ("from=9999-12-30T00:00:00Z&to=9999-12-31T05:00:00Z", "from"),
        ("from=9999-12-31T23:59:59-01:00&to=9999-12-31T23:59:59Z", "from"),
        ("group_by=", "group_by"),
        ("group_by=bad key", "group_by"),
        ("tag=novalue", "tag"),
    ],
)
def test_window_parameters_out_of_bounds_are_400_naming_the_field(read_client, path, query, field):
    response = read_client.get(f"{BASE}/x/{path}?{query}")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert field in body["fields"]


@pytest.mark.parametrize(
    "query",
    ["interval=", "agg=", "interval=1m&hours=169", "interval=1m&hours=24&group_by=endpoint"],
)
def test_time_series_refuses_empty_choices_and_too_many_buckets(read_client, query):
    response = read_client.get(f"{BASE}/x/time-series?{query}")

    assert response.status_code == 400
    field = query.split("=")[0]
    assert field in response.json()["fields"]


def test_window_of_the_longest_retention_and_720_hours_are_accepted(read_client, settings):
    """A window may reach as far back as anything is kept: the longest retention of a
    kind, or of the metric rollups (days: 5 years by default)."""
    settings.ANALYTICS_RETENTION_DAYS = 90
    settings.ANALYTICS_RETENTION_BY_KIND = {"metric": 30, "request_log": 120}
    settings.METRICS_ROLLUP_RETENTION_DAYS = {"m": 30, "h": 100, "d": 110}
    longest = {"from": "2026-01-01T00:00:00Z", "to": "2026-05-01T00:00:00Z"}  # 120 days
    assert read_client.get(f"{BASE}/x/statistics", longest).status_code == 200
    too_long = {"from": "2026-01-01T00:00:00Z", "to": "2026-05-01T00:00:01Z"}
    assert read_client.get(f"{BASE}/x/statistics", too_long).status_code == 400
    settings.METRICS_ROLLUP_RETENTION_DAYS = {"m": 30, "h": 100, "d": 1825}
    assert read_client.get(f"{BASE}/x/statistics", too_long).status_code == 200
    assert read_client.get(f"{BASE}/x/statistics", {"hours": 720}).status_code == 200
    series = read_client.get(f"{BASE}/x/time-series", {"hours": 720, "interval": "1h"})
    assert series.status_code == 200


def test_time_series_returns_buckets_with_count_and_value(ingest_client, read_client):
    record(
        ingest_client,
        [point("queue.depth", v, "gauge", minutes=m) for v, m in [(1, 130), (3, 125), (10, 10)]],
    )

    body = read_client.get(
        f"{BASE}/queue.depth/time-series", {"hours": 3, "interval": "1h", "agg": "sum"}
    ).json()

    assert [b["count"] for b in body["buckets"]] in ([2, 1], [1, 1, 1])
    assert sum(b["value"] for b in body["buckets"]) == 14
    assert all({"start", "count", "value"} <= b.keys() for b in body["buckets"])
    bad = read_client.get(f"{BASE}/queue.depth/time-series", {"interval": "7s"})
    assert bad.status_code == 400 and "interval" in bad.json()["fields"]


def test_metric_record_rejects_bad_names_and_values(ingest_client):
    body = post_json(
        ingest_client,
        RECORD,
        [
            {"metric_name": "ok.name", "value": 1},
            {"metric_name": "bad name", "value": 1},
            {"metric_name": "x", "value": "NaN"},
            {"metric_name": "x", "value": 1, "metric_type": "meter"},
            {"metric_name": "x", "value": 1, "tags": {"bad key": "v"}},
        ],
    ).json()

    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3, 4]


def test_seed_001_labels_are_accepted_as_tags(ingest_client, read_client):
    record(
        ingest_client,
        {
            "metric_name": "active_users",
            "value": 150,
            "metric_type": "gauge",
            "labels": {"family_unit_id": 7},
        },
    )

    body = read_client.get(f"{BASE}/active_users/statistics", {"tag": "family_unit_id:7"}).json()
    assert body["count"] == 1


def test_prometheus_exposition_has_recorded_metrics_and_own_figures(ingest_client, read_client):
    record(
        ingest_client,
        [
            point("active_users", 150, "gauge", minutes=1, region="eu"),
            point("api_request_count", 1, "counter", minutes=2, endpoint="/x"),
            point("api_request_count", 1, "counter", minutes=1, endpoint="/x"),
            point("api.response_time", 120.0, minutes=1, endpoint="/x"),
        ],
    )
    post_json(ingest_client, RECORD, [{"metric_name": "bad name", "value": 1}])
    post_json(ingest_client, RECORD, [{"metric_name": "waiting", "value": 1}] * 3)  # not drained

    from apps.ingest.counters import counts

    counts.push()  # what the counters' flusher does about once a second
    response = read_client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }
    assert samples[("active_users", (("region", "eu"),))] == 150
    assert samples[("api_request_count_total", (("endpoint", "/x"),))] == 2
    assert samples[("api_response_time_count", (("endpoint", "/x"),))] == 1
    assert (
        samples[("analytics_ingest_items_total", (("kind", "metric"), ("outcome", "accepted")))]
        >= 4
    )
    assert (
        samples[("analytics_ingest_items_total", (("kind", "metric"), ("outcome", "rejected")))]
        >= 1
    )
    assert samples[("analytics_outbox_batches", ())] == 1  # the rejected-only post wrote none
    assert samples[("analytics_outbox_items", ())] == 3
    assert ("analytics_queue_depth", (("queue", "ingest"),)) in samples


def test_prometheus_needs_read_access_and_errors_are_json(ingest_client, client):
    assert ingest_client.get("/metrics").status_code == 403
    anonymous = client.get("/metrics", HTTP_ACCEPT="text/plain;version=0.0.4")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "not_authenticated"


def test_performance_summary_from_request_log(ingest_client, read_client):
    logs = [
        {"endpoint": "/a", "method": "GET", "status_code": 200, "response_time_ms": 10.0},
        {"endpoint": "/a", "method": "GET", "status_code": 500, "response_time_ms": 30.0},
        {"endpoint": "/b", "method": "GET", "status_code": 404, "response_time_ms": 90.0},
        {"endpoint": "/b", "method": "GET", "status_code": 200, "response_time_ms": 70.0},
    ]
    post_json(ingest_client, "/api/v1/analytics/requests", logs)
    drain_outbox()

    body = read_client.get("/api/v1/analytics/performance", {"hours": 1}).json()

    api = body["api"]
    assert api["total_requests"] == 4
    assert api["avg_response_time_ms"] == 50.0
    assert api["p50_response_time_ms"] == 50.0
    assert (api["error_rate"], api["server_error_rate"]) == (0.5, 0.25)
    assert api["slowest_endpoints"][0]["endpoint"] == "/b"
    assert read_client.get("/api/v1/analytics/performance", {"hours": 500}).status_code == 400


@pytest.mark.parametrize("tag", ["bad key:x", ":x", "k:" + "v" * 201, "novalue"])
def test_a_tag_filter_that_no_series_could_hold_is_a_400(read_client, tag):
    response = read_client.get("/api/v1/analytics/metrics/cpu/statistics", {"hours": 1, "tag": tag})

    assert response.status_code == 400
    assert "tag" in response.json()["fields"]
