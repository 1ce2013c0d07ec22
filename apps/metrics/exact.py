"""Exact percentiles from raw points, for metric windows that hold few of them.

Rollups carry a DDSketch, so percentiles over any window are within 1% (see
sketch.quantiles). A window of at most `settings.METRICS_EXACT_PERCENTILE_POINTS`
points is cheap to read raw, so its percentiles are exact instead, by the same
definition (PostgreSQL's percentile_cont, apps.core.aggregates.interpolated).

Raw points answer only when every point the rollups count for the window is still
there (same snapshot, counts compared key by key): retention may have deleted raw
points whose rollups remain, and then the sketch answers. With a tag filter the
metric's other series share the index range, so at most SCAN_FACTOR times the limit
of the metric's points are read before giving up.
"""

from collections.abc import Sequence
from datetime import datetime

from django.conf import settings

from .sources import packed_spans, points_relation

SCAN_FACTOR = 10

# (group number or None, bucket start or None): None is "all groups" / "the whole window".
Key = tuple[int | None, datetime | None]


def exact_limit() -> int:
    return settings.METRICS_EXACT_PERCENTILE_POINTS


def exact_percentiles(
    cursor,
    *,
    name: str,
    start: datetime,
    end: datetime,
    qs: Sequence[float],
    expected: dict[Key, int],
    labels: tuple[str, list] | None = None,
    groups: tuple[str, list] | None = None,
    bucket: str | None = None,
    filtered: bool = False,
) -> dict[Key, list[float]] | None:
    """percentile_cont of each q over the raw points of [start, end), per key of
    `expected` (its counts from the rollups); None when the window holds more than the
    limit or its raw points are not all there.

    `labels` (SQL selecting tags_hash values, and its parameters) keeps those label
    sets; `groups` (a `g(h, i)` CTE and its parameters, as Groups.numbered()) answers
    per group and over all of them; `bucket` (SQL over `src.t`) per bucket too.
    `filtered`: the label sets read are not all of the metric's (defaults to whether
    `labels` is given).
    """
    limit = exact_limit()
    filtered = filtered or labels is not None
    total = sum(n for (group, _), n in expected.items() if group is None)
    if not expected or total > limit:
        return None
    scan = (limit * SCAN_FACTOR if filtered else total) + 1
    params: list = [name, start, end, scan]
    spans = packed_spans([(start, end)])
    # Packed hours' blocks of other label sets stay packed.
    blocks = f"tags_hash IN ({labels[0]})" if spans and labels is not None else ""
    if blocks:
        params = [*labels[1], *params]
    # The table name and fixed fragments only: every value is a parameter.
    sql = (
        f'WITH src AS MATERIALIZED (SELECT "timestamp" AS t, value, tags_hash AS h '  # noqa: S608
        f"FROM {points_relation([name], packed=spans, blocks=blocks)} p "
        'WHERE metric_name = %s AND "timestamp" >= %s AND "timestamp" < %s LIMIT %s)'
    )
    source = "src"
    if groups is not None:
        sql += f", {groups[0]}"
        params += groups[1]
        source = "src JOIN g ON g.h = src.h"
    group = "g.i" if groups is not None else "NULL::int"
    at = bucket or "NULL::timestamptz"
    sql += (
        f" SELECT (SELECT count(*) FROM src), {group}, {at}, count(*), "  # noqa: S608
        f"percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY src.value) FROM {source}"
    )
    params.append([float(q) for q in qs])
    if labels is not None and groups is None:
        sql += f" WHERE src.h IN ({labels[0]})"
        params += labels[1]
    if groups is not None and bucket is not None:
        sql += f" GROUP BY GROUPING SETS ((g.i, {bucket}), ({bucket}))"
    elif groups is not None:
        sql += " GROUP BY GROUPING SETS ((g.i), ())"
    elif bucket is not None:
        sql += f" GROUP BY {bucket}"
    cursor.execute(sql, params)
    rows = cursor.fetchall()
    if not rows or rows[0][0] >= scan:
        return None
    found = {(group, at): (count, values) for _, group, at, count, values in rows}
    answer: dict[Key, list[float]] = {}
    for key, count in expected.items():
        got = found.get(key)
        if got is None or got[0] != count:
            return None  # raw points missing (retention) or not matching: the sketch answers
        answer[key] = list(got[1])
    return answer
