"""Statistics read from rollups + raw edges equal the exact answer from raw points.

Exact for count/sum/min/max; within 1% for percentiles (DDSketch), for random
points, windows (hours or from/to), label filters and group_by, with late
points arriving after a roll and minutes parked by a failed roll.
"""

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.ingest.outbox import records_insert
from apps.metrics.models import (
    DirtyMinute,
    MetricPoint,
    MetricRollup,
    MetricSeries,
    RollupFailure,
)
from apps.metrics.rollups import rollup_pending, rollup_range
from apps.metrics.schemas import MetricIn, tags_hash
from apps.metrics.selectors import metric_statistics, metric_time_series

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 15, 37, 12, 345678, tzinfo=UTC)
LABEL_SETS = [
    {"endpoint": "/a", "method": "GET"},
    {"endpoint": "/a", "method": "POST"},
    {"endpoint": "/b", "method": "GET"},
    {"method": "GET"},  # no endpoint: the null group of group_by=endpoint
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
    for model in (MetricPoint, MetricRollup, MetricSeries, DirtyMinute, RollupFailure):
        model.objects.all().delete()


def park(every: int) -> None:
    """Leave every `every`-th dirty minute as a failed roll does: mark gone, minute parked."""
    if not every:
        return
    marks = list(DirtyMinute.objects.order_by("bucket_start", "metric_name"))[::every]
    for mark in marks:
        RollupFailure.objects.get_or_create(
            metric_name=mark.metric_name,
            bucket_start=mark.bucket_start,
            defaults={"error": "simulated", "failed_at": NOW},
        )
    DirtyMinute.objects.filter(id__in=[m.id for m in marks]).delete()


def matches(row: dict, start: datetime, end: datetime, tags: dict) -> bool:
    return start <= row["_moment"] < end and all(row["tags"].get(k) == v for k, v in tags.items())


def assert_figures(figures: dict, values: list[float]) -> None:
    """A statistics answer (or one group of it) against the exact values, sorted."""
    assert figures["count"] == len(values)
    if not values:
        assert figures["p95"] is None
        return
    assert figures["min"] == values[0]
    assert figures["max"] == values[-1]
    assert figures["sum"] == pytest.approx(math.fsum(values), rel=1e-9)
    for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        assert_quantile_close(figures[key], values, q)


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


WIDE = timedelta(days=21)
wide_points = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=WIDE.total_seconds()),
        st.floats(min_value=0.001, max_value=1e6),
        st.integers(min_value=0, max_value=len(LABEL_SETS) - 1),
    ),
    min_size=1,
    max_size=120,
)
windows = st.one_of(
    st.builds(lambda h: {"hours": h}, st.integers(min_value=1, max_value=720)),
    st.builds(
        lambda a, b: {
            "since": NOW - timedelta(seconds=max(a, b) + 1),
            "until": NOW - timedelta(seconds=min(a, b)),
        },
        st.floats(min_value=0, max_value=WIDE.total_seconds() + 86_400),
        st.floats(min_value=0, max_value=WIDE.total_seconds() + 86_400),
    ),
)


def bounds(window: dict) -> tuple[datetime, datetime]:
    if "hours" in window:
        return NOW - timedelta(hours=window["hours"]), NOW
    return window["since"], window["until"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    early=wide_points,
    late=points_strategy,
    window=windows,
    tags=tag_filters,
    group_by=st.sampled_from(["endpoint", "method", "nothing"]),
    park_every=st.sampled_from([0, 1, 2]),
    roll_late=st.booleans(),
)
def test_grouped_statistics_equal_exact_values_per_group(
    early, late, window, tags, group_by, park_every, roll_late
):
    reset()
    rows = insert(early)
    rollup_pending()
    rows += insert(late)
    park(park_every)  # some late minutes failed to roll: their rollups are stale
    if roll_late:
        rollup_pending()
    start, end = bounds(window)

    stats = metric_statistics(name="latency", tags=tags, now=NOW, group_by=group_by, **window)

    selected = [r for r in rows if matches(r, start, end, tags)]
    assert_figures(stats, sorted(r["value"] for r in selected))
    expected: dict[str | None, list[float]] = {}
    for r in selected:
        expected.setdefault(r["tags"].get(group_by), []).append(r["value"])
    assert {g["value"]: g["count"] for g in stats["groups"]} == {
        k: len(v) for k, v in expected.items()
    }
    for group in stats["groups"]:
        assert_figures(group, sorted(expected[group["value"]]))
    counts = [g["count"] for g in stats["groups"]]
    assert counts == sorted(counts, reverse=True)


MONDAY_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)
STEPS = {"1m": 60, "5m": 300, "1h": 3600, "1d": 86400, "1w": 7 * 86400}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    points=wide_points,
    interval=st.sampled_from(["1h", "1d", "1w"]),
    window=windows,
    tags=tag_filters,
    group_by=st.sampled_from([None, "endpoint"]),
    agg=st.sampled_from(["max", "sum", "p95"]),
    park_every=st.sampled_from([0, 3]),
)
def test_long_time_series_equal_exact_values(
    points, interval, window, tags, group_by, agg, park_every
):
    reset()
    rows = insert(points)
    rows += insert([(s / 7, v, label) for s, v, label in points[:20]])  # late, same minutes
    park(park_every)
    start, end = bounds(window)
    step = STEPS[interval]
    origin = MONDAY_ORIGIN if interval == "1w" else datetime(2000, 1, 1, tzinfo=UTC)

    series = metric_time_series(
        name="latency", interval=interval, agg=agg, tags=tags, now=NOW, group_by=group_by, **window
    )

    def expected_buckets(selected: list[dict]) -> dict[datetime, list[float]]:
        out: dict[datetime, list[float]] = {}
        for r in selected:
            offset = (r["_moment"] - origin).total_seconds() // step
            out.setdefault(origin + timedelta(seconds=offset * step), []).append(r["value"])
        return out

    def check(buckets: list[dict], selected: list[dict]) -> None:
        expected = expected_buckets(selected)
        assert [b["start"] for b in buckets] == sorted(expected)
        for bucket in buckets:
            values = sorted(expected[bucket["start"]])
            assert bucket["count"] == len(values)
            if agg == "max":
                assert bucket["value"] == values[-1]
            elif agg == "sum":
                assert bucket["value"] == pytest.approx(math.fsum(values), rel=1e-9)
            else:
                assert_quantile_close(bucket["value"], values, 0.95)
        if interval == "1w":
            assert all((b["start"].weekday(), b["start"].hour) == (0, 0) for b in buckets)

    selected = [r for r in rows if matches(r, start, end, tags)]
    check(series["buckets"], selected)
    if group_by is not None:
        by_value: dict[str | None, list[dict]] = {}
        for r in selected:
            by_value.setdefault(r["tags"].get(group_by), []).append(r)
        assert {g["value"] for g in series["groups"]} == set(by_value)
        for group in series["groups"]:
            check(group["buckets"], by_value[group["value"]])
