"""request_sketches: a window's request logs per endpoint as a rollup keeps them; the
percentiles read from the sketch are within 1% of percentile_cont over the rows."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from apps.core.aggregates import interpolated
from apps.metrics.sketch import quantiles
from apps.requestlog.models import APIRequestLog
from apps.requestlog.selectors import request_sketches

pytestmark = pytest.mark.django_db

T = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_counts_exact_and_percentiles_within_1_percent():
    rng = random.Random(4)
    times = {"/a": [round(rng.lognormvariate(4, 0.6), 1) for _ in range(500)], "/b": [0.0, 7.5]}
    rows = [
        APIRequestLog(endpoint=endpoint, method="GET", status_code=(200, 404, 503)[i % 3],
                      response_time_ms=ms, timestamp=T + timedelta(seconds=i), received_at=T)
        for endpoint, values in times.items()
        for i, ms in enumerate(values)
    ]  # fmt: skip
    rows.append(APIRequestLog(endpoint="/a", method="GET", status_code=200, response_time_ms=1,
                              timestamp=T + timedelta(hours=1), received_at=T))  # fmt: skip
    APIRequestLog.objects.bulk_create(rows)

    found = {
        row["endpoint"]: row for row in request_sketches(since=T, until=T + timedelta(hours=1))
    }

    a, b = found["/a"], found["/b"]
    assert (a["requests"], a["errors"], a["server_errors"]) == (500, 333, 166)
    assert a["ms_sum"] == pytest.approx(sum(times["/a"]))
    assert (a["min_ms"], a["max_ms"]) == (min(times["/a"]), max(times["/a"]))
    assert sum(a["counts"]) == 500 and a["keys"] == sorted(a["keys"])
    ordered = sorted(times["/a"])
    read = quantiles(a["keys"], a["counts"], (0.5, 0.95, 0.99), low=a["min_ms"], high=a["max_ms"])
    for q, value in read.items():
        assert value == pytest.approx(interpolated(ordered, q), rel=0.01)
    assert (b["requests"], b["min_ms"], b["max_ms"], sum(b["counts"])) == (2, 0.0, 7.5, 2)
