"""A mergeable quantile sketch (DDSketch) with 1% relative accuracy, kept in SQL arrays.

A value v > 0 falls in bucket ceil(log_gamma(v)) with gamma = (1 + a) / (1 - a);
every value of a bucket is within a (1%) of the bucket's representative, so each
order statistic read from merged bucket counts is within 1% of the true one, and a
percentile interpolated between two of them (the definition every read uses, see
`quantiles`) within 1% of the exact percentile_cont when its neighbours share a sign.
Buckets are signed, ordered indexes: negatives mirror positives, 0 holds
|v| < MIN_MAGNITUDE. Binning happens in PostgreSQL (`KEY_SQL`), so rollups and
raw edges use the very same arithmetic; Python only walks the counts.
"""

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LN_GAMMA = math.log(GAMMA)
MIN_MAGNITUDE = 1e-9
OFFSET = 1 << 20  # keeps positive indexes > 0 for every |v| >= MIN_MAGNITUDE


def key_sql(column: str = "value") -> str:
    ln_gamma = repr(LN_GAMMA)
    return (
        f"(CASE WHEN {column} >= {MIN_MAGNITUDE!r} "
        f"THEN ceil(ln({column}) / {ln_gamma})::int + {OFFSET} "
        f"WHEN {column} <= -{MIN_MAGNITUDE!r} "
        f"THEN -(ceil(ln(-{column}) / {ln_gamma})::int + {OFFSET}) ELSE 0 END)"
    )


def value_of(key: int) -> float:
    """The bucket's representative: within RELATIVE_ACCURACY of every value in it."""
    if key == 0:
        return 0.0
    try:
        magnitude = 2 * GAMMA ** (abs(key) - OFFSET) / (GAMMA + 1)
    except OverflowError:  # the bucket of values near 1.7e308; callers clamp to the max
        magnitude = math.inf
    return magnitude if key > 0 else -magnitude


def quantiles(
    keys: Sequence[int],
    counts: Sequence[int],
    qs: Iterable[float],
    *,
    low: float | None = None,
    high: float | None = None,
) -> dict[float, float | None]:
    """Quantiles from merged bucket counts (keys ascending), by the project's one
    definition (apps.core.aggregates.interpolated, PostgreSQL's percentile_cont): the
    q-quantile of n values lies at 0-based rank q * (n - 1), linear between the two
    closest ranks. Each rank reads its bucket's representative, clamped to the exact
    `low`/`high`; rank 0 is `low` and rank n - 1 is `high` when given.

    Each rank's value is within RELATIVE_ACCURACY of the true order statistic, so the
    answer is within RELATIVE_ACCURACY * max(|x_lo|, |x_hi|) of the exact one (x_lo,
    x_hi: the two neighbouring order statistics), i.e. within 1% of it when they have
    the same sign.
    """
    cumulative = list(accumulate(counts))
    total = cumulative[-1] if cumulative else 0

    def at(rank: int) -> float:
        if rank == 0 and low is not None:
            return low
        if rank == total - 1 and high is not None:
            return high
        value = value_of(keys[bisect_right(cumulative, rank)])
        if low is not None:
            value = max(value, low)
        if high is not None:
            value = min(value, high)
        return value

    result: dict[float, float | None] = {}
    for q in qs:
        if total == 0:
            result[q] = None
            continue
        position = q * (total - 1)
        rank = math.floor(position)
        value = at(rank)
        if rank + 1 < total and position > rank:
            value += (at(rank + 1) - value) * (position - rank)
        result[q] = value
    return result


def unnest_sql(keys: str, counts: str) -> str:
    """Select-list SQL turning each row's sketch arrays into (k, c) rows, one per key.
    Two set-returning functions in a select list walk their arrays in step (a ProjectSet):
    30 days of rollups (21,000 keys) are summed in ~4 ms this way, ~7 ms as
    `unnest(ks, cs)` in FROM, which stores each row's keys in a tuplestore first."""
    return f"unnest({keys}) AS k, unnest({counts}) AS c"


def merge_sketches(parts: list[tuple[Sequence[int], Sequence[int]]]) -> tuple[list, list]:
    """Add bucket counts of several sketches; keys ascending."""
    if len(parts) == 1:
        return list(parts[0][0]), list(parts[0][1])
    merged: dict[int, int] = {}
    for keys, counts in parts:
        for key, count in zip(keys, counts, strict=True):
            merged[key] = merged.get(key, 0) + count
    ordered = sorted(merged)
    return ordered, [merged[k] for k in ordered]
