"""The metrics bench's reads and their check: a ReadCase is one selector call with the
same answer computed straight from raw points; `verify` compares the two.

count/sum/min/max/avg must match exactly, percentiles be within the sketch's 1% of the
exact percentile_cont (the one definition every read uses); a group_by answer is checked
group by group.
"""

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from common import BenchError
from metrics_data import RAW_POINTS

QS = (0.5, 0.95, 0.99)


@dataclass
class ReadCase:
    label: str
    goal_ms: float | None
    call: Callable[[], dict]
    where: str  # raw points of the window, for the raw and the verifying SQL
    params: list
    step: str | None = None  # a series' bucket width (SQL interval); None for statistics
    agg: str = "avg"
    group_by: str | None = None  # a tag: raw answers GROUP BY tags->>tag, as the old systems did

    def bucket(self) -> str:
        # The selectors' origin (apps.core.windows.BUCKET_ORIGIN), a Monday: 7m buckets
        # counted from 2000-01-01 would start elsewhere.
        return f"date_bin(interval '{self.step}', \"timestamp\", timestamptz '2000-01-03')"

    @property
    def raw_sql(self) -> str:
        """The same answer straight from raw points, as one would without rollups.

        With group_by, every row starts with the group's value (rows ordered by it).
        """
        group = f"tags->>'{self.group_by}'" if self.group_by else ""
        select = f"{group} AS g, " if group else ""
        if self.step is None:
            return (
                f"SELECT {select}count(*), avg(value), min(value), max(value), sum(value), "
                "percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY value) "
                f"FROM {RAW_POINTS} WHERE {self.where}"
                + (" GROUP BY g ORDER BY g" if group else "")
            )
        value = "avg(value)"
        if self.agg != "avg":
            value = f"percentile_cont({int(self.agg[1:]) / 100}) WITHIN GROUP (ORDER BY value)"
        by = "g, b" if group else "b"
        return (
            f"SELECT {select}{self.bucket()} AS b, count(*), {value} FROM {RAW_POINTS} "
            f"WHERE {self.where} GROUP BY {by} ORDER BY {by}"
        )

    def of_group(self, value: str | None) -> "ReadCase":
        """The same read narrowed to one group, for the verifying SQL."""
        return ReadCase(
            self.label,
            self.goal_ms,
            self.call,
            f"{self.where} AND tags->>'{self.group_by}' IS NOT DISTINCT FROM %s",
            [*self.params, value],
            self.step,
            self.agg,
        )


def rel(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def sketch_error(value: float, exact: float) -> float:
    """Relative distance to the exact percentile_cont (guarantee: 1% when the two ranks
    it lies between share a sign, as the bench's latencies all do)."""
    if abs(value - exact) <= 1e-9:  # the sketch's zero bucket holds |v| < 1e-9
        return 0.0
    return abs(value - exact) / abs(exact)


def verify(case: ReadCase, res: dict, rows: list, cursor) -> str:
    """Compare a selector answer with the raw answer; raises BenchError on a mismatch.

    count/sum/min/max/avg must be exact (sum and avg to 1e-9: float addition order).
    Percentiles are checked against the exact percentile_cont, which the sketch's
    interpolated answer must be within 1% of.
    """
    if case.group_by:
        return verify_groups(case, res, rows, cursor)
    from apps.metrics.sketch import RELATIVE_ACCURACY

    limit = RELATIVE_ACCURACY * (1 + 1e-9)
    if case.step is None:
        count, avg, low, high, total, conts = rows[0]
        if res["count"] != count:
            raise BenchError(f"count {res['count']} != raw {count}")
        if res["min"] != low or res["max"] != high:
            raise BenchError(f"min/max {res['min']}/{res['max']} != raw {low}/{high}")
        if rel(res["sum"], total) > 1e-9 or rel(res["avg"], avg) > 1e-9:
            raise BenchError(f"sum/avg {res['sum']}/{res['avg']} != raw {total}/{avg}")
        answers = [res[f"p{int(q * 100)}"] for q in QS]
        errors = [sketch_error(v, x) for v, x in zip(answers, conts, strict=True)]
        if max(errors) > limit:
            raise BenchError(f"percentiles {answers} vs exact percentile_cont {conts}")
        return (
            f"count {count:,}; count/sum/min/max exact; p50/p95/p99 within {max(errors):.2%} "
            "of the exact percentile_cont"
        )
    # The raw GROUP BY has no row for a bucket without points; a filled answer has one
    # (fill=zero at a window's start before the data begins, depending on the load's time).
    buckets = [bucket for bucket in res["buckets"] if bucket["count"]]
    if len(buckets) != len(rows):
        raise BenchError(f"{len(buckets)} buckets != raw {len(rows)}")
    for bucket, (b, count, _) in zip(buckets, rows, strict=True):
        if bucket["start"] != b or bucket["count"] != count:
            raise BenchError(f"bucket {bucket} != raw {rows[buckets.index(bucket)]}")
    conts = [rel(bucket["value"], row[2]) for bucket, row in zip(buckets, rows, strict=True)]
    if case.agg == "avg":
        if max(conts) > 1e-9:
            raise BenchError(f"avg off by up to {max(conts):.2e}")
        return f"{len(buckets)} buckets; starts, counts and avg exact"
    errors = [
        sketch_error(bucket["value"], row[2]) for bucket, row in zip(buckets, rows, strict=True)
    ]
    if max(errors) > limit:
        worst = errors.index(max(errors))
        raise BenchError(f"bucket {buckets[worst]} vs exact percentile_cont {rows[worst][2]}")
    return (
        f"{len(buckets)} buckets; starts and counts exact; {case.agg} within {max(errors):.2%} "
        f"of the exact percentile_cont (median {statistics.median(errors):.2%})"
    )


def verify_groups(case: ReadCase, res: dict, rows: list, cursor) -> str:
    """Each group of a group_by answer against the raw rows of its value, as `verify` does."""
    raw: dict[str | None, list] = {}
    for row in rows:
        raw.setdefault(row[0], []).append(row[1:])
    groups = {g["value"]: g for g in res["groups"]}
    if set(groups) != set(raw) or res["groups_truncated"]:
        raise BenchError(f"groups {sorted(groups, key=str)} != raw {sorted(raw, key=str)}")
    notes = []
    for value, group_rows in raw.items():
        answer = groups[value] if case.step is None else {"buckets": groups[value]["buckets"]}
        try:
            notes.append(verify(case.of_group(value), answer, group_rows, cursor))
        except BenchError as exc:
            raise BenchError(f"group {value!r}: {exc}") from None
    return f"{len(raw)} groups ({case.group_by}), each: " + notes[0].split("; ", 1)[1]
