"""GET /api/v1/metrics/error-trends?interval=: the metric time series' grammar, alignment
and fill, as `series`; the hourly series and every old field unchanged."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.helpers import drain_outbox, iso, post_json

URL = "/api/v1/metrics/error-trends"
NOW = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipped(ingest_client):
    with time_machine.travel(NOW, tick=False):
        response = post_json(
            ingest_client,
            "/api/v1/analytics/error",
            [
                {"category": "api", "severity": "error", "error_message": m, "timestamp": iso(t)}
                for m, t in [
                    ("a", NOW.replace(hour=10, minute=5)),
                    ("b", NOW.replace(hour=10, minute=20)),
                    ("c", NOW.replace(hour=12, minute=1)),
                ]
            ],
        )
        assert response.status_code == 202, response.content
        drain_outbox()
        yield


def stamp(hour: int, minute: int = 0) -> str:
    return f"2025-06-01T{hour:02d}:{minute:02d}:00Z"


def test_series_of_30m_buckets_with_zeros_by_default(shipped, read_client):
    body = read_client.get(URL, {"hours": 3, "interval": "30m"}).json()

    # since 09:30 -> every 30-minute bucket from 09:30 to the one holding now (12:30)
    assert (body["interval"], body["fill"]) == ("30m", "zero")
    assert body["series"] == [
        {"start": stamp(9, 30), "count": 0},
        {"start": stamp(10), "count": 2},
        {"start": stamp(10, 30), "count": 0},
        {"start": stamp(11), "count": 0},
        {"start": stamp(11, 30), "count": 0},
        {"start": stamp(12), "count": 1},
        {"start": stamp(12, 30), "count": 0},
    ]
    assert len(body["hourly"]) == 4  # unchanged beside it


def test_series_fill_null_and_none(shipped, read_client):
    nulls = read_client.get(URL, {"hours": 3, "interval": "1h", "fill": "null"}).json()
    assert [b["count"] for b in nulls["series"]] == [None, 2, None, 1]
    sparse = read_client.get(URL, {"hours": 3, "interval": "7m", "fill": "none"}).json()
    assert [b["count"] for b in sparse["series"]] == [1, 1, 1]
    # 7-minute buckets counted from Monday 2000-01-03 00:00 UTC
    origin = datetime(2000, 1, 3, tzinfo=UTC)
    for bucket in sparse["series"]:
        start = datetime.fromisoformat(bucket["start"].replace("Z", "+00:00"))
        assert (start - origin) % timedelta(minutes=7) == timedelta(0)


def test_without_interval_the_answer_is_the_old_one(shipped, read_client):
    with time_machine.travel(NOW, tick=False):
        body = read_client.get(URL, {"hours": 3}).json()
    assert not {"interval", "fill", "series"} & set(body)
    assert [h["count"] for h in body["hourly"]] == [0, 2, 0, 1]


@pytest.mark.parametrize("interval", ["0m", "10081m", "1.5h", "abc", ""])
def test_a_bad_interval_is_a_400_naming_interval(read_client, interval):
    response = read_client.get(URL, {"interval": interval})
    assert response.status_code == 400
    assert "interval" in response.json()["fields"]
