"""Statistics read from rollups + raw edges equal the exact answer from raw points.

Exact for count/sum/min/max; within 1% for percentiles (DDSketch), for random
points, windows and label filters, with late points arriving after a roll.
"""

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.ingest.services import records_insert
from apps.metrics.models import DirtyMinute, MetricEvent, MetricRollup, MetricSeries
from apps.metrics.rollups import rollup_pending, rollup_range
from apps.metrics.schemas import MetricIn, tags_hash
from apps.metrics.selectors import metric_statistics, metric_time_series

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 15, 37, 12, 345678, tzinfo=UTC)
LABEL_SETS = [
    {"endpoint": "/a", "method": "GET"},
    {"endpoint": "/a", "method": "POST"},
    {"endpoint": "/b", "method": "GET"},
]
SPAN = timedelta(days=3)


def insert(points: list[tuple[float, float, int]]) -> list[dict]:
    """points: (seconds before NOW, value, label set index) -> rows stored via the pipeline SQL."""
    rows = []
    for seconds, value, label in points:
        row = MetricIn(
            metric_name="latency", value=value, metric_type="timer", tags=LABEL_SETS[label]
        ).model_dump(mode="json")
        moment = NOW - timedelta(seconds=seconds)
        row.update(
            event_id=str(uuid.uuid4()),
            timestamp=moment.isoformat(),
            received_at=NOW.isoformat(),
            tags_hash=tags_hash(row["tags"]),
        )
        rows.append({**row, "_moment": moment})
    records_insert(
        kind_name="metric", rows=[{k: v for k, v in r.items() if k != "_moment"} for r in rows]
    )
    return rows


def exact(rows: list[dict], start: datetime, end: datetime, tags: dict) -> list[float]:
    return sorted(
        r["value"]
        for r in rows
        if start <= r["_moment"] < end and all(r["tags"].get(k) == v for k, v in tags.items())
    )


def assert_quantile_close(estimate: float, values: list[float], q: float) -> None:
    rank = q * (len(values) - 1)
    low, high = values[math.floor(rank)], values[math.ceil(rank)]
    assert low * 0.99 - 1e-12 <= estimate <= high * 1.01 + 1e-12


points_strategy = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=SPAN.total_seconds()),
        st.floats(min_value=0.001, max_value=1e6),
        st.integers(min_value=0, max_value=len(LABEL_SETS) - 1),
    ),
    min_size=1,
    max_size=120,
)
tag_filters = st.sampled_from(
    [
        {},
        {"endpoint": "/a"},
        {"method": "GET"},
        {"endpoint": "/b", "method": "GET"},
        {"endpoint": "/zzz"},
    ]
)


def reset():
    for model in (MetricEvent, MetricRollup, MetricSeries, DirtyMinute):
        model.objects.all().delete()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    early=points_strategy,
    late=points_strategy,
    hours=st.integers(min_value=1, max_value=80),
    shift=st.floats(min_value=0, max_value=86_400),
    tags=tag_filters,
    roll_late=st.booleans(),
)
def test_statistics_from_rollups_equal_exact_values(early, late, hours, shift, tags, roll_late):
    reset()
    rows = insert(early)
    rollup_pending()
    rows += insert(late)  # late points land in minutes that were already rolled
    if roll_late:
        rollup_pending()
    now = NOW - timedelta(seconds=shift)
    start = now - timedelta(hours=hours)

    stats = metric_statistics(name="latency", hours=hours, tags=tags, now=now)
    values = exact(rows, start, now, tags)

    assert stats["count"] == len(values)
    if not values:
        assert stats["p95"] is None
        return
    assert stats["min"] == values[0]
    assert stats["max"] == values[-1]
    assert stats["sum"] == pytest.approx(math.fsum(values), rel=1e-9)
    for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        assert_quantile_close(stats[key], values, q)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    points=points_strategy,
    interval=st.sampled_from(["1m", "5m", "1h", "1d"]),
    hours=st.integers(min_value=1, max_value=72),
    tags=tag_filters,
)
def test_time_series_buckets_equal_exact_values(points, interval, hours, tags):
    reset()
    rows = insert(points)
    rollup_pending()
    start = NOW - timedelta(hours=hours)
    step = {"1m": 60, "5m": 300, "1h": 3600, "1d": 86400}[interval]
    epoch = datetime(2000, 1, 1, tzinfo=UTC)

    series = metric_time_series(
        name="latency", hours=hours, interval=interval, agg="max", tags=tags, now=NOW
    )

    expected: dict[datetime, list[float]] = {}
    for r in rows:
        if start <= r["_moment"] < NOW and all(r["tags"].get(k) == v for k, v in tags.items()):
            offset = (r["_moment"] - epoch).total_seconds() // step
            expected.setdefault(epoch + timedelta(seconds=offset * step), []).append(r["value"])
    got = {b["start"]: (b["count"], b["value"]) for b in series["buckets"]}
    assert got == {b: (len(v), max(v)) for b, v in expected.items()}


def test_backfill_rebuilds_the_same_rollups_as_incremental_rolling():
    reset()
    insert([(s * 97.0, 1.0 + s % 13, s % 3) for s in range(500)])
    rollup_pending()
    incremental = set(
        MetricRollup.objects.values_list(
            "resolution", "tags_hash", "bucket_start", "count", "min", "max"
        )
    )
    MetricRollup.objects.all().delete()

    rollup_range(start=NOW - SPAN - timedelta(days=1), end=NOW + timedelta(minutes=1))

    rebuilt = set(
        MetricRollup.objects.values_list(
            "resolution", "tags_hash", "bucket_start", "count", "min", "max"
        )
    )
    assert rebuilt == incremental


def test_rolling_twice_changes_nothing():
    reset()
    insert([(s * 13.0, float(s), 0) for s in range(100)])
    rollup_pending()
    before = list(MetricRollup.objects.order_by("id").values())
    DirtyMinute.objects.bulk_create(
        [
            DirtyMinute(metric_name="latency", bucket_start=r["bucket_start"])
            for r in before
            if r["resolution"] == "m"
        ]
    )

    rollup_pending()

    assert list(MetricRollup.objects.order_by("id").values()) == before
