"""Reads beyond 24 h: from/to, 1w buckets, group_by=<tag>, and the old answers unchanged."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from rest_framework.test import APIClient

from apps.ingest.outbox import records_insert
from apps.metrics import selectors
from apps.metrics.rollups import rollup_pending
from apps.metrics.schemas import tags_hash

pytestmark = pytest.mark.django_db

BASE = "/api/v1/analytics/metrics"
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def store(points: list[tuple[timedelta, float, dict]], name: str = "api.response_time") -> None:
    """(age, value, tags) -> rows inserted as the ingest task does, then rolled up."""
    rows = []
    for age, value, tags in points:
        moment = (NOW - age).isoformat()
        rows.append(
            {
                "event_id": str(uuid.uuid4()),
                "timestamp": moment,
                "received_at": moment,
                "metric_name": name,
                "metric_type": "timer",
                "value": value,
                "unit": "ms",
                "tags": tags,
                "tags_hash": tags_hash(tags),
                "source": "",
            }
        )
    records_insert(kind_name="metric", rows=rows)
    rollup_pending()


A_GET = {"endpoint": "/api/a", "method": "GET"}
A_POST = {"endpoint": "/api/a", "method": "POST"}
B_GET = {"endpoint": "/api/b", "method": "GET"}
NO_ENDPOINT = {"method": "GET"}


@pytest.fixture
def month():
    """Points over 40 days: per label set, one per day at ages 0.5 .. 39.5 days."""
    points = []
    for day in range(40):
        age = timedelta(days=day, hours=12)
        points += [
            (age, 100.0 + day, A_GET),
            (age, 200.0 + day, A_POST),
            (age, 50.0, B_GET),
            (age + timedelta(minutes=1), 1.0, NO_ENDPOINT),
        ]
    store(points)
    return points


def test_group_by_endpoint_with_a_tag_filter_matches_the_old_sql(month, read_client):
    """SELECT labels->>'endpoint', count, sum ... WHERE method = 'GET' GROUP BY 1, over 30 days."""
    body = read_client.get(
        f"{BASE}/api.response_time/statistics",
        {"hours": 720, "group_by": "endpoint", "tag": "method:GET"},
    ).json()

    days = range(30)  # ages 0.5 .. 29.5 days fall inside 720 hours
    expected = {
        "/api/a": (30, sum(100.0 + d for d in days), 100.0, 129.0),
        "/api/b": (30, 50.0 * 30, 50.0, 50.0),
        None: (30, 30.0, 1.0, 1.0),
    }
    got = {g["value"]: (g["count"], g["sum"], g["min"], g["max"]) for g in body["groups"]}
    assert got == expected
    assert [g["value"] for g in body["groups"]][-1] is None  # equal counts: null last
    a = next(g for g in body["groups"] if g["value"] == "/api/a")
    assert a["p50"] == pytest.approx(114.0, rel=0.01)
    assert a["avg"] == pytest.approx(114.5)
    assert (body["group_by"], body["group_count"], body["groups_truncated"]) == (
        "endpoint",
        3,
        False,
    )
    assert body["count"] == 90 and body["tags"] == {"method": "GET"}
    assert body["sum"] == pytest.approx(sum(v[1] for v in expected.values()))


def test_group_by_time_series_has_one_bucket_list_per_value(month, read_client):
    body = read_client.get(
        f"{BASE}/api.response_time/time-series",
        {"hours": 720, "interval": "1w", "agg": "count", "group_by": "endpoint"},
    ).json()

    groups = {g["value"]: g["buckets"] for g in body["groups"]}
    assert set(groups) == {"/api/a", "/api/b", None}
    assert sum(b["value"] for b in groups["/api/a"]) == 60  # GET and POST, 30 days
    assert sum(b["value"] for b in groups["/api/b"]) == 30
    assert [b["start"] for b in groups["/api/a"]] == [b["start"] for b in body["buckets"]]
    assert sum(b["count"] for b in body["buckets"]) == 120
    for bucket in body["buckets"]:
        start = datetime.fromisoformat(bucket["start"].replace("Z", "+00:00"))
        assert (start.weekday(), start.hour, start.minute) == (0, 0, 0)  # ISO Monday 00:00 UTC


def test_from_to_reaches_beyond_30_days(month, read_client, settings):
    settings.ANALYTICS_RETENTION_DAYS = 90
    since, until = NOW - timedelta(days=45), NOW - timedelta(days=5)
    body = read_client.get(
        f"{BASE}/api.response_time/statistics",
        {"from": since.isoformat(), "to": until.isoformat(), "tag": "endpoint:/api/b"},
    ).json()

    assert body["count"] == 35  # ages 5.5 .. 39.5 days
    assert body["period_hours"] == 960
    assert body["since"] == since.isoformat().replace("+00:00", "Z")
    assert body["until"] == until.isoformat().replace("+00:00", "Z")
    unencoded = f"from={since.isoformat()}&to={until.isoformat()}&tag=endpoint:/api/b"
    raw_plus = read_client.get(f"{BASE}/api.response_time/statistics?{unencoded}")
    assert raw_plus.status_code == 200 and raw_plus.json()["count"] == 35


def test_old_requests_get_the_old_answers(month, read_client):
    stats = read_client.get(f"{BASE}/api.response_time/statistics", {"hours": 24}).json()
    series = read_client.get(
        f"{BASE}/api.response_time/time-series", {"hours": 24, "agg": "count"}
    ).json()

    assert set(stats) == {
        *("metric_name", "period_hours", "since", "tags", "count", "sum"),
        *("avg", "min", "max", "p50", "p95", "p99"),
    }
    assert set(series) == {
        *("metric_name", "period_hours", "interval", "agg", "since", "tags", "buckets"),
    }
    assert stats["period_hours"] == 24 and isinstance(stats["period_hours"], int)
    assert all(isinstance(b["value"], int) for b in series["buckets"])  # counts stay integers


def test_groups_are_bounded_and_say_so(month, read_client, monkeypatch):
    monkeypatch.setattr(selectors, "MAX_GROUPS", 2)

    body = read_client.get(
        f"{BASE}/api.response_time/statistics", {"hours": 720, "group_by": "method"}
    ).json()

    assert [g["value"] for g in body["groups"]] == ["GET", "POST"]
    assert (body["group_count"], body["groups_truncated"]) == (2, False)
    body = read_client.get(
        f"{BASE}/api.response_time/statistics", {"hours": 720, "group_by": "endpoint"}
    ).json()
    assert (body["group_count"], body["groups_truncated"]) == (3, True)
    assert [g["count"] for g in body["groups"]] == [60, 30]
    assert body["count"] == 120  # the totals count the group left out
    assert body["p50"] is not None


def test_time_series_groups_are_bounded_ties_by_value_null_last(month, read_client, monkeypatch):
    monkeypatch.setattr(selectors, "MAX_GROUPS", 2)

    body = read_client.get(
        f"{BASE}/api.response_time/time-series",
        {"hours": 720, "interval": "1w", "agg": "count", "group_by": "endpoint"},
    ).json()

    # /api/b and the points without an endpoint both have 30: the value wins, null last.
    assert [g["value"] for g in body["groups"]] == ["/api/a", "/api/b"]
    assert (body["group_count"], body["groups_truncated"]) == (3, True)
    assert sum(b["value"] for b in body["buckets"]) == 120  # the totals count the third
    assert [sum(b["value"] for b in g["buckets"]) for g in body["groups"]] == [60, 30]


def test_groups_ranked_over_the_whole_window_whatever_the_interval(month, read_client, monkeypatch):
    """A sub-hour interval reads minute rollups for its buckets, but the groups are
    ranked over the window's day and hour rollups and its newest, raw points: the
    same groups and counts as the statistics."""
    store([(timedelta(0), 1.0, NO_ENDPOINT)] * 4)  # the newest minute: 3 + 4 points
    monkeypatch.setattr(selectors, "MAX_GROUPS", 2)
    query = {"hours": 72, "group_by": "endpoint"}

    series = read_client.get(
        f"{BASE}/api.response_time/time-series", {**query, "interval": "15m", "agg": "count"}
    ).json()
    stats = read_client.get(f"{BASE}/api.response_time/statistics", query).json()

    assert [g["value"] for g in series["groups"]] == [None, "/api/a"]
    assert [sum(b["value"] for b in g["buckets"]) for g in series["groups"]] == [7, 6]
    assert [(g["value"], g["count"]) for g in stats["groups"]] == [(None, 7), ("/api/a", 6)]
    assert (series["group_count"], series["groups_truncated"]) == (3, True)
    assert sum(b["value"] for b in series["buckets"]) == stats["count"] == 16


@pytest.mark.parametrize("agg", ["count", "avg", "p95"])
def test_kept_groups_read_the_same_listed_or_joined(month, read_client, monkeypatch, agg):
    """The kept groups' label sets listed in the scan (the usual case) or, past
    MAX_KEPT_SETS of them, joined: the same answer."""
    query = {"hours": 720, "interval": "1d", "agg": agg, "group_by": "endpoint"}
    monkeypatch.setattr(selectors, "MAX_GROUPS", 2)
    listed = read_client.get(f"{BASE}/api.response_time/time-series", query).json()
    monkeypatch.setattr(selectors, "MAX_KEPT_SETS", 0)
    joined = read_client.get(f"{BASE}/api.response_time/time-series", query).json()

    assert [g["value"] for g in listed["groups"]] == ["/api/a", "/api/b"]
    for answer in (listed, joined):
        answer.pop("since"), answer.pop("until", None)  # each asked at its own now
    assert listed == joined


def test_group_by_an_unknown_metric_or_tag(read_client):
    empty = read_client.get(f"{BASE}/nothing/statistics", {"group_by": "endpoint"}).json()
    assert (empty["count"], empty["groups"], empty["group_count"]) == (0, [], 0)
    series = read_client.get(f"{BASE}/nothing/time-series", {"group_by": "endpoint"}).json()
    assert (series["buckets"], series["groups"]) == ([], [])


def test_openapi_documents_the_new_parameters_and_fields(db):
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    for path in ("statistics", "time-series"):
        get = schema["paths"][f"/api/v1/analytics/metrics/{{name}}/{path}"]["get"]
        params = {p["name"]: p for p in get["parameters"]}
        assert params["hours"]["schema"]["maximum"] == 720
        assert params["hours"]["schema"]["minimum"] == 1
        assert params["from"]["schema"]["format"] == "date-time"
        assert params["to"]["schema"]["format"] == "date-time"
        assert "pattern" in params["group_by"]["schema"]
        assert "409" in get["responses"]
    series = schema["paths"]["/api/v1/analytics/metrics/{name}/time-series"]["get"]
    interval = next(p for p in series["parameters"] if p["name"] == "interval")
    assert "<n>w" in interval["description"] and "pattern" in interval["schema"]
    components = schema["components"]["schemas"]
    assert {"groups", "group_by", "until"} <= set(components["StatisticsOut"]["properties"])
    assert "groups" not in components["StatisticsOut"].get("required", [])
