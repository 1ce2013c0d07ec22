"""Time series of any whole-minute interval up to a week, aligned from Monday
2000-01-03 00:00 UTC, with empty buckets answered on request (fill=zero|null)."""

import itertools
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from rest_framework.test import APIClient

from apps.ingest.outbox import records_insert
from apps.metrics.rollups import rollup_pending
from apps.metrics.schemas import tags_hash

pytestmark = pytest.mark.django_db

BASE = "/api/v1/analytics/metrics"
ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday: the documented alignment
_today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
# A Monday 00:00 UTC 2-3 weeks ago: data from two weeks before it to three days after.
T0 = _today - timedelta(days=_today.weekday() + 14)
GET_A = {"endpoint": "/a", "method": "GET"}
GET_B = {"endpoint": "/b", "method": "GET"}


def store(points: list[tuple[datetime, float, dict]], name: str) -> None:
    """(moment, value, tags) -> rows inserted as the ingest task does, then rolled up."""
    rows = [
        {
            "event_id": str(uuid.uuid4()),
            "timestamp": moment.isoformat(),
            "received_at": moment.isoformat(),
            "metric_name": name,
            "metric_type": "timer",
            "value": value,
            "unit": "ms",
            "tags": tags,
            "tags_hash": tags_hash(tags),
            "source": "",
        }
        for moment, value, tags in points
    ]
    records_insert(kind_name="metric", rows=rows)
    rollup_pending()


@pytest.fixture
def spread():
    """600 points at random moments over 17 days, whole values (exact float sums)."""
    rng = random.Random(18)
    span = timedelta(days=17).total_seconds()
    points = [
        (
            T0 - timedelta(days=14) + timedelta(seconds=rng.uniform(0, span)),
            float(rng.randint(1, 1000)),
            rng.choice([GET_A, GET_B]),
        )
        for _ in range(600)
    ]
    store(points, "latency")
    return points


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def expected(points, start: datetime, end: datetime, step: timedelta) -> dict:
    """{bucket start: (count, sum, max)} from the points, buckets counted from ORIGIN."""
    buckets: dict[datetime, list] = defaultdict(lambda: [0, 0.0, None])
    for moment, value, _ in points:
        if start <= moment < end:
            acc = buckets[ORIGIN + (moment - ORIGIN) // step * step]
            acc[0] += 1
            acc[1] += value
            acc[2] = value if acc[2] is None else max(acc[2], value)
    return {b: tuple(acc) for b, acc in buckets.items()}


def series(client, name: str, **params) -> dict:
    response = client.get(f"{BASE}/{name}/time-series", params)
    assert response.status_code == 200, response.content
    return response.json()


ALIGNED = {
    "15m": lambda b: b.minute % 15 == 0 and b.second == 0 and b.microsecond == 0,
    "2h": lambda b: b.hour % 2 == 0 and (b.minute, b.second) == (0, 0),
    "6h": lambda b: b.hour in (0, 6, 12, 18) and (b.minute, b.second) == (0, 0),
    "7m": lambda b: (b - ORIGIN) % timedelta(minutes=7) == timedelta(0),
    "90m": lambda b: (b - ORIGIN) % timedelta(minutes=90) == timedelta(0),
    "3h": lambda b: b.hour % 3 == 0 and (b.minute, b.second) == (0, 0),
    "2d": lambda b: (b - ORIGIN) % timedelta(days=2) == timedelta(0) and b.hour == 0,
    "1w": lambda b: b.weekday() == 0 and (b.hour, b.minute, b.second) == (0, 0, 0),
}
STEPS = {
    "15m": timedelta(minutes=15),
    "2h": timedelta(hours=2),
    "6h": timedelta(hours=6),
    "7m": timedelta(minutes=7),
    "90m": timedelta(minutes=90),
    "3h": timedelta(hours=3),
    "2d": timedelta(days=2),
    "1w": timedelta(weeks=1),
}


@pytest.mark.parametrize("interval", list(STEPS))
def test_buckets_have_the_interval_width_are_aligned_and_equal_the_points(
    spread, read_client, interval
):
    step = STEPS[interval]
    # Ragged window ends: buckets cut by them hold only the window's points.
    if step >= timedelta(days=1):
        start, end = T0 - timedelta(days=13, hours=5, seconds=7), T0 + timedelta(days=2, hours=9)
    else:
        start = T0 + timedelta(hours=1, minutes=7, seconds=30, microseconds=500)
        end = T0 + timedelta(days=2, hours=20, minutes=3, seconds=10)
    window = {"from": start.isoformat(), "to": end.isoformat(), "interval": interval}
    want = expected(spread, start, end, step)

    sums = series(read_client, "latency", agg="sum", **window)
    maxes = series(read_client, "latency", agg="max", **window)

    assert sums["interval"] == interval
    starts = [at(b["start"]) for b in sums["buckets"]]
    assert all(ALIGNED[interval](b) for b in starts)
    assert all(
        (later - earlier) % step == timedelta(0) for earlier, later in itertools.pairwise(starts)
    )
    assert ORIGIN + (start - ORIGIN) // step * step <= starts[0] and starts[-1] < end
    assert {at(b["start"]): (b["count"], b["value"]) for b in sums["buckets"]} == {
        b: (count, total) for b, (count, total, _) in want.items()
    }
    assert {at(b["start"]): b["value"] for b in maxes["buckets"]} == {
        b: high for b, (_, _, high) in want.items()
    }


def test_week_buckets_start_on_monday_and_hold_seven_days(spread, read_client):
    body = series(
        read_client,
        "latency",
        interval="1w",
        agg="count",
        **{
            "from": (T0 - timedelta(days=14)).isoformat(),
            "to": (T0 + timedelta(days=7)).isoformat(),
        },
    )
    want = expected(spread, T0 - timedelta(days=14), T0 + timedelta(days=7), timedelta(weeks=1))
    assert [at(b["start"]) for b in body["buckets"]] == [
        T0 - timedelta(days=14),
        T0 - timedelta(days=7),
        T0,
    ]
    assert [b["value"] for b in body["buckets"]] == [
        want[at(b["start"])][0] for b in body["buckets"]
    ]


@pytest.mark.parametrize("interval", ["1m", "5m", "1h", "1d", "1w", "10080m", "168h", "7d"])
def test_every_previously_documented_interval_and_a_week_still_answer(read_client, interval):
    body = series(read_client, "latency", hours=168, interval=interval)
    assert body["interval"] == interval
    assert body["buckets"] == []  # no data, no fill: the old answer


@pytest.mark.parametrize(
    "interval",
    ["0m", "10081m", "1.5h", "abc", "2w", "8d", "-5m", "5 m", "5M", "5", "m", "1000000m", "1h30m"],
)
def test_an_interval_outside_the_grammar_is_a_400_naming_interval(read_client, interval):
    response = read_client.get(f"{BASE}/latency/time-series", {"interval": interval})

    assert response.status_code == 400
    message = response.json()["fields"]["interval"][0]
    assert "<n>m, <n>h, <n>d or <n>w" in message and "7 days" in message


@pytest.mark.parametrize(
    "params",
    [
        {"interval": "1m", "from": "2026-01-01T00:00:00Z", "to": "2026-01-31T00:00:00Z"},
        {"interval": "1m", "hours": 720},
        {"interval": "3m", "hours": 720},
        {"interval": "1m", "hours": 17, "group_by": "endpoint"},
    ],
)
def test_too_many_buckets_is_a_400_saying_to_widen_the_interval(read_client, params):
    response = read_client.get(f"{BASE}/latency/time-series", params)

    assert response.status_code == 400
    assert "widen the interval" in response.json()["fields"]["interval"][0]


def test_the_bucket_bound_is_the_window_length_over_the_interval(read_client):
    assert series(read_client, "latency", hours=168, interval="1m")["buckets"] == []
    assert series(read_client, "latency", hours=720, interval="5m")["buckets"] == []
    assert series(read_client, "latency", hours=16, interval="1m", group_by="endpoint")


@pytest.fixture
def gappy():
    """Points in two of the six 2 h buckets of T0 .. T0 + 12 h."""
    store(
        [
            (T0 + timedelta(minutes=30), 10.0, GET_A),
            (T0 + timedelta(minutes=50), 30.0, GET_B),
            (T0 + timedelta(hours=6, minutes=10), 5.0, GET_A),
        ],
        "gappy",
    )
    return {"from": T0.isoformat(), "to": (T0 + timedelta(hours=12)).isoformat(), "interval": "2h"}


def starts_of(buckets: list[dict]) -> list[datetime]:
    return [at(b["start"]) for b in buckets]


SIX = [T0 + timedelta(hours=2 * i) for i in range(6)]


def test_without_fill_empty_buckets_are_left_out_as_before(gappy, read_client):
    body = series(read_client, "gappy", agg="sum", **gappy)
    assert starts_of(body["buckets"]) == [SIX[0], SIX[3]]


def test_fill_zero_answers_every_bucket_of_the_window_with_zero(gappy, read_client):
    body = series(read_client, "gappy", agg="sum", fill="zero", **gappy)

    assert starts_of(body["buckets"]) == SIX
    assert [(b["count"], b["value"]) for b in body["buckets"]] == [
        (2, 40.0),
        (0, 0),
        (0, 0),
        (1, 5.0),
        (0, 0),
        (0, 0),
    ]


def test_fill_null_answers_every_bucket_with_a_null_value(gappy, read_client):
    body = series(read_client, "gappy", agg="avg", fill="null", **gappy)

    assert starts_of(body["buckets"]) == SIX
    assert [(b["count"], b["value"]) for b in body["buckets"]] == [
        (2, 20.0),
        (0, None),
        (0, None),
        (1, 5.0),
        (0, None),
        (0, None),
    ]


def test_fill_applies_to_every_group_of_group_by(gappy, read_client):
    body = series(read_client, "gappy", agg="count", fill="zero", group_by="endpoint", **gappy)

    assert starts_of(body["buckets"]) == SIX
    groups = {g["value"]: g["buckets"] for g in body["groups"]}
    assert set(groups) == {"/a", "/b"}
    assert all(starts_of(buckets) == SIX for buckets in groups.values())
    assert [b["value"] for b in groups["/a"]] == [1, 0, 0, 1, 0, 0]
    assert [b["value"] for b in groups["/b"]] == [1, 0, 0, 0, 0, 0]


def test_fill_on_a_metric_without_points_still_answers_the_window(read_client):
    window = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}
    body = series(read_client, "nothing", interval="15m", fill="null", agg="p95", **window)

    assert starts_of(body["buckets"]) == [T0 + timedelta(minutes=15 * i) for i in range(4)]
    assert all(b["count"] == 0 and b["value"] is None for b in body["buckets"])


def test_fill_with_a_ragged_window_starts_at_the_bucket_holding_from(gappy, read_client):
    window = {
        "from": (T0 + timedelta(minutes=40)).isoformat(),
        "to": (T0 + timedelta(hours=4, seconds=1)).isoformat(),
        "interval": "2h",
    }
    body = series(read_client, "gappy", agg="sum", fill="zero", **window)

    assert starts_of(body["buckets"]) == SIX[:3]
    assert [(b["count"], b["value"]) for b in body["buckets"]] == [(1, 30.0), (0, 0), (0, 0)]


@pytest.mark.parametrize("fill", ["", "zeros", "NULL", "0"])
def test_an_unknown_fill_is_a_400_naming_fill(read_client, fill):
    response = read_client.get(f"{BASE}/gappy/time-series", {"fill": fill})
    assert response.status_code == 400
    assert "fill" in response.json()["fields"]


def test_openapi_documents_the_interval_grammar_and_fill(db):
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    get = schema["paths"]["/api/v1/analytics/metrics/{name}/time-series"]["get"]
    params = {p["name"]: p for p in get["parameters"]}
    assert params["interval"]["schema"]["pattern"] == "^([0-9]{1,6})([mhdw])$"
    assert "Monday 2000-01-03 00:00 UTC" in params["interval"]["description"]
    assert params["fill"]["schema"]["enum"] == ["none", "zero", "null"]
    assert params["fill"]["schema"]["default"] == "none"
