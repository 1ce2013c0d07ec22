"""One percentile definition everywhere (linear interpolation between the closest ranks,
PostgreSQL's percentile_cont): the same values give the same p50/p95/p99 from AI TTFT,
AI step durations, metric statistics and time series, alert rule values, request logs,
agents (events) and /metrics; small windows exactly, large ones within the sketch's 1%."""

import math
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
import time_machine
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from apps.core.aggregates import interpolated
from apps.ingest.buffer import buffer
from apps.ingest.outbox import records_insert
from apps.metrics.models import DirtyMinute, MetricPoint, MetricRollup, MetricSeries
from apps.metrics.rollups import rollup_pending
from apps.metrics.schemas import MetricIn, tags_hash
from apps.metrics.selectors import metric_statistics, metric_time_series, metric_value
from apps.metrics.sketch import RELATIVE_ACCURACY
from apps.monitoring import checks, services
from apps.monitoring.models import MonitoredService
from tests.helpers import ago, drain_outbox, iso, new_id, post_json

pytestmark = pytest.mark.django_db

API = "/api/v1/analytics"
TEN = [100.0 * i for i in range(1, 11)]  # 100, 200, ..., 1000
EXPECTED = {"p50": 550.0, "p95": 955.0, "p99": 991.0}
QS = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def reference(values: list[float], q: float) -> float:
    """The definition, in exact rational arithmetic: sorted x_0..x_{n-1}, position
    h = q (n - 1), answer x_floor(h) + (h - floor(h)) (x_floor(h)+1 - x_floor(h))."""
    xs = sorted(values)
    h = Fraction(q) * (len(xs) - 1)
    i = math.floor(h)
    if i + 1 >= len(xs):
        return xs[i]
    return float(Fraction(xs[i]) + (h - i) * (Fraction(xs[i + 1]) - Fraction(xs[i])))


def close(got: float, want: float, scale: float = 0.0) -> bool:
    """Equal but for the last bits of float rounding: of the answer, and of the values
    interpolated between (`scale`, their magnitude: between -16777217.0 and 0.0 the
    two ways of interpolating differ by ~2e-9 near zero)."""
    return abs(got - want) <= 1e-9 * max(1.0, abs(want)) + 1e-15 * scale


def assert_expected(figures: dict, prefix: str = "", suffix: str = "") -> None:
    for key, want in EXPECTED.items():
        got = figures[f"{prefix}{key}{suffix}"]
        assert got == pytest.approx(want, abs=1e-6), (key, got)


# --- the definition ---------------------------------------------------------------------


def test_ten_values_give_550_955_991_by_the_definition():
    for key, q in QS.items():
        assert interpolated(TEN, q) == pytest.approx(EXPECTED[key], abs=1e-9)
        assert reference(TEN, q) == pytest.approx(EXPECTED[key], abs=1e-9)


@given(
    values=st.lists(st.floats(min_value=-1e9, max_value=1e9), min_size=1, max_size=200),
    q=st.floats(min_value=0, max_value=1),
)
@example(values=[0.0, -16777217.0], q=0.9999999999999999)  # rounding near zero
def test_the_shared_python_implementation_is_the_definition(values, q):
    scale = max(abs(v) for v in values)
    assert close(interpolated(sorted(values), q), reference(values, q), scale)


# --- the same ten values through every read ---------------------------------------------


def test_ttft_step_durations_statistics_series_alerts_and_metrics_agree(ingest_client, read_client):
    assistant = str(uuid.uuid4())
    items = [
        {
            "feature": "chat",
            "assistant_id": assistant,
            "ttft_ms": ms,
            "steps": [{"name": "retrieve", "duration_ms": ms}],
            "timestamp": ago(minutes=2, seconds=i),
        }
        for i, ms in enumerate(TEN)
    ]
    response = post_json(ingest_client, f"{API}/log-ai-usage", items)
    assert response.status_code == 202 and not response.json()["rejected"], response.content
    record = [
        {"metric_name": "demo.latency", "value": ms, "metric_type": "timer",
         "tags": {"endpoint": "/a"}, "timestamp": ago(minutes=2, seconds=i)}
        for i, ms in enumerate(TEN)
    ]  # fmt: skip
    assert post_json(ingest_client, f"{API}/metrics/record", record).status_code == 202
    drain_outbox()
    buffer.flush()
    drain_outbox()
    rollup_pending()

    assert_expected(read_client.get(f"{API}/ttft", {"hours": 1}).json())
    advanced = read_client.get(f"{API}/advanced", {"assistant_id": assistant}).json()
    assert_expected(advanced["ttft"])
    (step,) = advanced["step_breakdown"]
    assert step["p95_duration"] == pytest.approx(955.0, abs=1e-6)

    stats = read_client.get(f"{API}/metrics/demo.latency/statistics", {"hours": 1}).json()
    assert_expected(stats)
    grouped = read_client.get(
        f"{API}/metrics/demo.latency/statistics", {"hours": 1, "group_by": "endpoint"}
    ).json()
    assert_expected(grouped)
    assert_expected(grouped["groups"][0])
    filtered = read_client.get(
        f"{API}/metrics/demo.latency/statistics", {"hours": 1, "tag": "endpoint:/a"}
    ).json()
    assert_expected(filtered)
    for key, want in EXPECTED.items():
        series = read_client.get(
            f"{API}/metrics/demo.latency/time-series", {"hours": 1, "interval": "1d", "agg": key}
        ).json()
        (bucket,) = series["buckets"]
        assert (bucket["count"], bucket["value"]) == (10, pytest.approx(want, abs=1e-6))
        by_endpoint = read_client.get(
            f"{API}/metrics/demo.latency/time-series",
            {"hours": 1, "interval": "1d", "agg": key, "group_by": "endpoint"},
        ).json()
        assert by_endpoint["groups"][0]["buckets"][0]["value"] == pytest.approx(want, abs=1e-6)
        now = datetime.now(UTC)
        rule_value = metric_value(
            name="demo.latency", aggregation=key, since=now - timedelta(hours=1), until=now
        )
        assert rule_value == pytest.approx(want, abs=1e-6)

    families = text_string_to_metric_families(read_client.get("/metrics").content.decode())
    (summary,) = [f for f in families if f.name == "demo_latency"]
    quantiles = {s.labels["quantile"]: s.value for s in summary.samples if "quantile" in s.labels}
    assert quantiles == {
        "0.5": pytest.approx(550.0),
        "0.95": pytest.approx(955.0),
        "0.99": pytest.approx(991.0),
    }


def test_request_logs_agree(ingest_client, read_client):
    lines = [
        {"service": "api", "endpoint": "/a", "method": "GET", "status_code": 200,
         "response_time_ms": ms, "event_id": new_id(), "timestamp": ago(minutes=2, seconds=i)}
        for i, ms in enumerate(TEN)
    ]  # fmt: skip
    assert post_json(ingest_client, f"{API}/requests", lines).status_code == 202
    drain_outbox()

    performance = read_client.get(f"{API}/performance", {"hours": 1}).json()
    assert_expected(performance["api"], suffix="_response_time_ms")
    per_endpoint = read_client.get("/api/v1/metrics/api-performance", {"hours": 1}).json()
    assert per_endpoint["endpoints"][0]["p95_response_time_ms"] == 955.0


def test_agent_percentiles_from_events_agree(
    ingest_client, admin_api_client, read_client, settings
):
    settings.INSIGHTS_TRACKING_THREADS = 1  # tracks inside the test's transaction
    day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)  # fmt: skip
    events = [
        {"event_type": "agent_called", "user_id": "ann", "session_id": "s",
         "timestamp": iso(day + timedelta(hours=12, minutes=i)),
         "metadata": {"agent_id": "a1", "success": True, "response_time_ms": ms}}
        for i, ms in enumerate(TEN)
    ]  # fmt: skip
    response = post_json(ingest_client, f"{API}/events", events)
    assert response.status_code == 202 and not response.json()["rejected"], response.content
    drain_outbox()
    tracked = post_json(
        admin_api_client, f"{API}/batch-track", {"period_type": "day", "period_start": iso(day)}
    )
    assert tracked.status_code == 200, tracked.content

    agent = read_client.get(f"{API}/agent/a1").json()
    assert_expected(agent, suffix="_response_time_ms")


def test_the_sla_reports_p95_agrees(read_client):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        service = MonitoredService.objects.create(
            name="api", check_type="http", target="http://api/"
        )
    for i, ms in enumerate(TEN):
        services.check_record(
            service.pk, checks.Result("healthy", ms), at=start + timedelta(minutes=i)
        )

    with time_machine.travel(start + timedelta(hours=1), tick=False):
        report = read_client.get(f"{API}/monitoring/sla/api", {"hours": 1}).json()

    assert report["p95_response_time_ms"] == pytest.approx(955.0)


# --- small windows: exact, by the definition --------------------------------------------

NOW = datetime(2026, 11, 20, 15, 37, 12, 345678, tzinfo=UTC)
LABELS = [{"endpoint": "/a"}, {"endpoint": "/b"}, {}]


def reset() -> None:
    for model in (MetricPoint, MetricRollup, MetricSeries, DirtyMinute):
        model.objects.all().delete()


def insert(points: list[tuple[float, float, int]], name: str = "latency") -> None:
    """(seconds before NOW, value, label set index), stored through the pipeline's SQL."""
    rows = []
    for seconds, value, label in points:
        row = MetricIn(
            metric_name=name, value=value, metric_type="timer", tags=LABELS[label]
        ).model_dump(mode="json")
        row.update(
            event_id=str(uuid.uuid4()),
            timestamp=(NOW - timedelta(seconds=seconds)).isoformat(),
            received_at=NOW.isoformat(),
            tags_hash=tags_hash(row["tags"]),
        )
        rows.append(row)
    records_insert(kind_name="metric", rows=rows)


small_points = st.lists(
    st.tuples(
        st.floats(min_value=1, max_value=6 * 3600),
        st.one_of(st.floats(min_value=-1e6, max_value=1e6), st.sampled_from([0.0, 5.0, 5.0])),
        st.integers(min_value=0, max_value=len(LABELS) - 1),
    ),
    min_size=1,
    max_size=80,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(points=small_points, roll=st.booleans())
def test_small_windows_are_exact_by_the_definition(points, roll):
    reset()
    insert(points)
    if roll:
        rollup_pending()
    values = [v for _, v, _ in points]
    by_group: dict[str | None, list[float]] = {}
    for _, v, label in points:
        by_group.setdefault(LABELS[label].get("endpoint"), []).append(v)

    stats = metric_statistics(name="latency", hours=7, now=NOW)
    grouped = metric_statistics(name="latency", hours=7, now=NOW, group_by="endpoint")
    only_a = metric_statistics(name="latency", hours=7, now=NOW, tags={"endpoint": "/a"})
    for key, q in QS.items():
        assert close(stats[key], reference(values, q))
        assert close(grouped[key], reference(values, q))
        for group in grouped["groups"]:
            assert close(group[key], reference(by_group[group["value"]], q))
        if "/a" in by_group:
            assert close(only_a[key], reference(by_group["/a"], q))
        series = metric_time_series(name="latency", hours=7, now=NOW, interval="1d", agg=key)
        buckets: dict[datetime, list[float]] = {}
        for seconds, v, _ in points:
            day = (NOW - timedelta(seconds=seconds)).replace(hour=0, minute=0, second=0,
                                                             microsecond=0)  # fmt: skip
            buckets.setdefault(day, []).append(v)
        assert {b["start"]: b["count"] for b in series["buckets"]} == {
            day: len(vs) for day, vs in buckets.items()
        }
        for bucket in series["buckets"]:
            assert close(bucket["value"], reference(buckets[bucket["start"]], q))


# --- large windows: the sketch, within the documented error ------------------------------


def assert_within_sketch_error(got: float, values: list[float], q: float) -> None:
    """Within 1% of the larger magnitude of the two ranks the answer lies between (1% of
    the exact answer when they share a sign), plus the zero bucket's 1e-9."""
    xs = sorted(values)
    h = q * (len(xs) - 1)
    neighbours = max(abs(xs[math.floor(h)]), abs(xs[math.ceil(h)]))
    want = reference(values, q)
    assert abs(got - want) <= RELATIVE_ACCURACY * neighbours * (1 + 1e-9) + 1e-9, (got, want)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    points=st.lists(
        st.tuples(
            st.floats(min_value=1, max_value=6 * 3600),
            st.floats(min_value=-1e6, max_value=1e6),
            st.integers(min_value=0, max_value=len(LABELS) - 1),
        ),
        min_size=1,
        max_size=80,
    ),
    roll=st.booleans(),
)
def test_sketch_answers_interpolate_within_the_documented_error(points, roll, settings):
    settings.METRICS_EXACT_PERCENTILE_POINTS = 0  # every window counts as large
    reset()
    insert(points)
    if roll:
        rollup_pending()
    values = [v for _, v, _ in points]

    stats = metric_statistics(name="latency", hours=7, now=NOW)
    grouped = metric_statistics(name="latency", hours=7, now=NOW, group_by="endpoint")
    for key, q in QS.items():
        assert_within_sketch_error(stats[key], values, q)
        assert_within_sketch_error(grouped[key], values, q)
        (bucket,) = metric_time_series(
            name="latency", since=NOW - timedelta(hours=7), until=NOW, interval="1w", agg=key
        )["buckets"] or [None]
        if bucket is not None and bucket["count"] == len(values):
            assert_within_sketch_error(bucket["value"], values, q)


def test_ten_values_from_the_sketch_are_within_one_percent_of_the_exact_answer(settings):
    settings.METRICS_EXACT_PERCENTILE_POINTS = 0
    reset()
    insert([(60 + i, v, 0) for i, v in enumerate(TEN)])
    rollup_pending()

    stats = metric_statistics(name="latency", hours=1, now=NOW)

    for key, want in EXPECTED.items():
        assert stats[key] == pytest.approx(want, rel=RELATIVE_ACCURACY)
    assert (stats["min"], stats["max"]) == (100.0, 1000.0)


def test_a_window_over_the_limit_reads_the_sketch_within_one_percent(settings):
    settings.METRICS_EXACT_PERCENTILE_POINTS = 50
    reset()
    values = [1.0 + (i * 7919 % 1000) for i in range(400)]
    insert([(30 + i * 10, v, i % 3) for i, v in enumerate(values)])
    rollup_pending()

    stats = metric_statistics(name="latency", hours=2, now=NOW)

    assert stats["count"] == 400
    for key, q in QS.items():
        assert stats[key] == pytest.approx(reference(values, q), rel=RELATIVE_ACCURACY)


def test_raw_points_gone_past_retention_fall_back_to_the_sketch():
    reset()
    insert([(600 + i, v, 0) for i, v in enumerate(TEN)])
    rollup_pending()
    # Retention deleted three raw points; their minute's rollup still counts them.
    gone = MetricPoint.objects.order_by("value").values_list("id", flat=True)[:3]
    MetricPoint.objects.filter(id__in=list(gone)).delete()

    stats = metric_statistics(name="latency", hours=1, now=NOW)

    assert stats["count"] == 10  # the rollups' ten, not the seven raw points left
    for key, want in EXPECTED.items():
        assert stats[key] == pytest.approx(want, rel=RELATIVE_ACCURACY)


def test_a_small_series_of_a_big_metric_is_exact_within_the_scan_bound(settings):
    settings.METRICS_EXACT_PERCENTILE_POINTS = 10  # scans at most 100 of the metric's points
    reset()
    insert([(60 + i, v, 1) for i, v in enumerate(TEN)])  # endpoint /b: the ten values
    insert([(30 + i, 5.0, 0) for i in range(50)])  # endpoint /a
    rollup_pending()

    within = metric_statistics(name="latency", hours=1, now=NOW, tags={"endpoint": "/b"})
    insert([(90 + i, 5.0, 0) for i in range(100)])  # now 160 points of /a: past the bound
    rollup_pending()
    beyond = metric_statistics(name="latency", hours=1, now=NOW, tags={"endpoint": "/b"})

    assert_expected(within)
    assert within["p95"] == interpolated(TEN, 0.95)  # exact: percentile_cont's very float
    assert beyond["p95"] != within["p95"]  # the sketch's estimate
    for key, want in EXPECTED.items():
        assert beyond[key] == pytest.approx(want, rel=RELATIVE_ACCURACY)
