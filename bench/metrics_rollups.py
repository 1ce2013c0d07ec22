"""The metrics bench's part 2: apps.metrics.rollups.rollup_range day by day over the
whole load, then once more over whole days holding ~1M points (the re-roll, upsert
path), and `backfill_rollups --jobs 2` over those same days."""

import io
import statistics
import time
from datetime import datetime, timedelta

from metrics_data import BLOCKS, EVENTS, floor_day


def bench_rollups(args, start: datetime, end: datetime) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.metrics.rollups import rollup_range

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE metrics_metricrollup, metrics_dirtyminute")
        cursor.execute(  # the rows' and the packed blocks' points
            f"SELECT d, sum(n)::bigint FROM (SELECT date_trunc('day', timestamp) AS d, "
            f"count(*) AS n FROM {EVENTS} GROUP BY d UNION ALL SELECT date_trunc('day', hour), "
            f"sum(count) FROM {BLOCKS} GROUP BY 1) x GROUP BY d"
        )
        per_day = dict(cursor.fetchall())
    days = []
    day = floor_day(start)
    while day < end:
        days.append(day)
        day += timedelta(days=1)
    timings = []
    steps = [0.0, 0.0, 0.0]  # statement times: minutes from points, hours, days
    t0 = time.perf_counter()
    for day in days:
        d0 = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            rollup_range(start=day, end=min(day + timedelta(days=1), end))
        timings.append((day, per_day.get(day, 0), time.perf_counter() - d0))
        big = [float(q["time"]) for q in captured.captured_queries if "INSERT" in q["sql"]]
        for i, seconds in enumerate(big[:3]):
            steps[i] += seconds
    total = time.perf_counter() - t0
    points = sum(n for _, n, _ in timings)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT resolution, count(*) FROM metrics_metricrollup GROUP BY 1 ORDER BY 1"
        )
        rollup_rows = dict(cursor.fetchall())
    print(
        f"rollups: {len(days)} days, {points:,} points rolled up in {total:.1f} s -> "
        f"{points / total:,.0f} points/s; rows: "
        + ", ".join(f"{res} {n:,}" for res, n in sorted(rollup_rows.items()))
    )
    print(
        f"rollups: by statement: minutes from points {steps[0]:.1f} s, hours from points "
        f"{steps[1]:.1f} s, days from hours {steps[2]:.1f} s"
    )
    full = [t for t in timings if t[1] and t[0] >= start and t[0] + timedelta(days=1) <= end]
    if full:
        secs = [t[2] for t in full]
        print(
            f"rollups: a full day ({statistics.median([t[1] for t in full]):,.0f} points): "
            f"median {statistics.median(secs):.2f} s, max {max(secs):.2f} s"
        )
    # First-pass time of the first whole days that hold >= 1M points, scaled to 1M.
    first_pass = None
    acc_n, acc_s = 0, 0.0
    for _, n, s in full:
        acc_n += n
        acc_s += s
        if acc_n >= 1_000_000:
            break
    if acc_n:
        first_pass = acc_s * 1_000_000 / acc_n
        print(
            f"rollups: first pass, whole days holding {acc_n:,} points took {acc_s:.2f} s "
            f"-> {first_pass:.2f} s per 1M points"
        )
    # Dedicated run: one rollup_range over whole days holding about 1M points (re-roll).
    slice_result = None
    if full:
        per = statistics.median([t[1] for t in full])
        ndays = max(1, min(len(full), round(1_000_000 / per)))
        lo = full[len(full) // 2 - ndays // 2][0] if len(full) > ndays else full[0][0]
        hi = lo + timedelta(days=ndays)
        n = sum(per_day.get(lo + timedelta(days=i), 0) for i in range(ndays))
        s0 = time.perf_counter()
        rollup_range(start=lo, end=hi)
        secs = time.perf_counter() - s0
        slice_result = {"points": n, "seconds": secs, "per_million": secs * 1_000_000 / n}
        print(
            f"rollups: one rollup_range over {ndays} day(s) ({lo:%m-%d}..{hi:%m-%d}, {n:,} "
            f"points, re-roll over existing rollups): {secs:.2f} s -> "
            f"{slice_result['per_million']:.2f} s per 1M points"
        )
        # The operator's command: the same days, two at a time (one per core).
        from django.core.management import call_command

        s0 = time.perf_counter()
        call_command(
            "backfill_rollups",
            since=lo.isoformat(),
            until=hi.isoformat(),
            jobs=2,
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
        secs = time.perf_counter() - s0
        slice_result["parallel_per_million"] = secs * 1_000_000 / n
        print(
            f"rollups: backfill_rollups --jobs 2 over the same days: {secs:.2f} s -> "
            f"{slice_result['parallel_per_million']:.2f} s per 1M points"
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) metrics_metricrollup")
    return {
        "points": points,
        "seconds": total,
        "rate": points / total,
        "first_pass_per_million": first_pass,
        "slice": slice_result,
        "rows": rollup_rows,
        "steps": steps,
    }
