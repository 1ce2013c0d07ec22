"""Metrics answered from another app's rows instead of stored points.

A kind whose every row would also become a few metric points (AI usage: its latency,
success, cost, speed and steps) registers a source per metric name instead: SQL
deriving the points from its own table. Statistics, time series, rollups, alert rules
and /metrics then read those names through `points_relation()`, the metric table and
every source as one relation, and the kind's insert statement registers the series and
marks the minutes to re-roll (`after_insert`), as a point's insert does. Nothing is
written twice: at 20,000 AI usage items/s, ~80,000 derived point rows a second were
beyond what this PostgreSQL stores (~58,000 rows/s of staged COPY).

A source's points have no event_id of their own: their row's is theirs, so a retried
row adds nothing. They are not in the metric points admin, and they go when their
rows go (that kind's retention); their rollups stay as long as other metrics' do.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from apps.core.windows import floor

from .models import DirtyMinute, MetricPoint, MetricSeries, MetricTagKey, PointBlock
from .rollup_blocks import PACKED

POINTS = MetricPoint._meta.db_table
BLOCKS = PointBlock._meta.db_table
_SEPARATOR = "chr(31)"  # between label values in the hashed text: no label holds it


@dataclass(frozen=True)
class Source:
    """The points of `metric_name` in `table`: one a row (or one a row of `join`, a
    set-returning FROM item such as a JSON array's elements) where `value` is not null.
    `labels` are (tag key, SQL text expression) pairs; `table`'s columns are `r.`-prefixed
    in every expression."""

    metric_name: str
    metric_type: str
    unit: str
    table: str
    value: str
    labels: tuple[tuple[str, str], ...]
    join: str = ""
    kind: str = ""  # the record kind of `table`: its retention is the raw points'

    def tags_hash(self, values: list[str] | None = None) -> str:
        """The label set's id, in SQL: 64 bits of PostgreSQL's own hash of the values
        (0 is reserved for 'all series'). A label set's key set is fixed per metric.
        `values`: the labels' SQL expressions, if not `labels`' own."""
        values = values or [expr for _, expr in self.labels]
        text = f" || {_SEPARATOR} || ".join(f"({expr})" for expr in values)
        return f"coalesce(nullif(hashtextextended({text}, 0), 0), 1)"

    def tags(self, values: list[str] | None = None) -> str:
        values = values or [expr for _, expr in self.labels]
        pairs = ", ".join(
            f"'{key}', ({expr})" for (key, _), expr in zip(self.labels, values, strict=True)
        )
        return f"jsonb_build_object({pairs})"

    def series(self, rows: str) -> str:
        """(metric_name, tags_hash, tags, metric_type, unit) of each label set in `rows`:
        the distinct label values first, then their hash and tags."""
        labels = ", ".join(f"({expr}) AS l{i}" for i, (_, expr) in enumerate(self.labels))
        values = [f"d.l{i}" for i in range(len(self.labels))]
        # In hash order, branch after branch: concurrent inserts of the same new series
        # take their locks in one order, so they wait for each other but never deadlock.
        return (
            f"(SELECT '{self.metric_name}', {self.tags_hash(values)}, {self.tags(values)}, "  # noqa: S608
            f"'{self.metric_type}', '{self.unit}' FROM (SELECT DISTINCT {labels} "
            f"FROM {rows} r{self.join} WHERE ({self.value}) IS NOT NULL) d ORDER BY 2)"
        )

    def select(self, rows: str, *, tags: bool) -> str:
        """(metric_name, metric_type, timestamp, value, tags_hash[, tags]) of `rows`."""
        extra = f", {self.tags()} AS tags" if tags else ""
        return (
            f"SELECT '{self.metric_name}'::text AS metric_name, "  # noqa: S608 - code's SQL
            f"'{self.metric_type}'::text AS metric_type, r.\"timestamp\", "
            f"({self.value})::float8 AS value, {self.tags_hash()} AS tags_hash{extra} "
            f"FROM {rows} r{self.join} WHERE ({self.value}) IS NOT NULL"
        )


_sources: dict[str, Source] = {}


def register_source(source: Source) -> None:
    _sources[source.metric_name] = source


def sources() -> list[Source]:
    return list(_sources.values())


def source_of(name: str) -> Source | None:
    return _sources.get(name)


def points_relation(
    names: Iterable[str] | None = None,
    *,
    tags: bool = False,
    packed: Sequence[tuple[str, str]] = (),
    blocks: str = "",
) -> str:
    """A FROM item (give it an alias) of the points of `names` (None: of every metric),
    with (metric_name, metric_type, timestamp, value, tags_hash[, tags]): the metric
    table alone when no source is among them, else the table and those sources as one
    relation. PostgreSQL pushes a `metric_name = ...` condition into each part, and
    drops the parts of other names when planning (or, compared with a lateral column,
    runs none of their scans). The table alone keeps a stored metric's read as cheap as
    it was: the union costs ~1 ms of planning a statement.

    `packed`: (from, to) SQL bounds of the spans of time the statement reads, `from` at
    the start of its hour (constants, or a lateral column's expression): the points
    packed into blocks in those spans come too, unpacked (apps.metrics.packing). Needed
    when a span starts before today (`packed_spans`); a block is found by its hour
    alone, so the statement still compares each point's time. Not with `tags`.

    `blocks`: a condition on the packed blocks too (SQL over `b`; its parameters are the
    relation's, before the statement's): a label-set filter holding a subquery is checked
    on the relation's rows only once every block is unpacked, where this leaves the other
    label sets' blocks packed."""
    wanted = None if names is None else set(names)
    chosen = [s for name, s in _sources.items() if wanted is None or name in wanted]
    if not chosen and not packed:
        return POINTS
    extra = ", tags" if tags else ""
    parts = [
        f'SELECT metric_name::text, metric_type::text, "timestamp", value, tags_hash{extra} '  # noqa: S608
        f"FROM {POINTS}"
    ]
    if packed:
        if tags:
            raise ValueError("packed points have no tags of their own")
        hours = " OR ".join(f"(b.hour >= ({low}) AND b.hour < ({high}))" for low, high in packed)
        block_rows, where = f"{BLOCKS} b", f" WHERE {hours}"
        if blocks:  # OFFSET 0: the blocks chosen before any is unpacked (else a
            # subquery's filter became a join after the unnest)
            where = ""
            block_rows = f"(SELECT * FROM {BLOCKS} b WHERE ({hours}) AND ({blocks}) OFFSET 0) b"  # noqa: S608
        parts.append(
            f'SELECT b.metric_name::text, b.metric_type::text, u.t AS "timestamp", u.v AS value, '  # noqa: S608
            f"b.tags_hash FROM {block_rows} CROSS JOIN LATERAL unnest(b.times, b.vals) "
            f"AS u(t, v){where}"
        )
    parts += [source.select(source.table, tags=tags) for source in chosen]
    return "(" + " UNION ALL ".join(parts) + ")"


# Points and minute rollups are packed an hour at a time, hour rollups a day at a time
# (the bucket of their blocks; apps.metrics.packing), once the bucket has been over
# SETTLED: its last minutes are in and rolled, and reads of the last hour (alert rules,
# /metrics, dashboards) never look for blocks.
PACKED_BY = {"points": "h", **PACKED}
SETTLED = {"h": timedelta(hours=2), "d": timedelta(hours=1)}
# How far ahead of a reading host's clock a packing host's may be.
CLOCK_SKEW = timedelta(hours=1)


def packed_before(moment: datetime, kind: str) -> datetime:
    """What the packing at `moment` packs of `kind` ("points", or a rollup resolution):
    every hour (or day) over SETTLED."""
    unit = PACKED_BY[kind]
    return floor(moment - SETTLED[unit], unit)


def reads_packed(start: datetime, kind: str = "points") -> bool:
    """Whether points (or rollups of resolution `kind`) from `start` on may be packed, as
    the packing would pack them with a clock CLOCK_SKEW ahead of this one."""
    unit = PACKED_BY[kind]
    return start < floor(timezone.now() - SETTLED[unit] + CLOCK_SKEW, unit)


def packed_spans(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[str, str]]:
    """`packed` for a statement reading these (from, to) spans: those where points may
    be packed, as constants (a datetime's own text, never input). Constants, not
    expressions: planning then skips the blocks' other days, where an expression such as
    `x - interval '1 hour'` (stable, not immutable) made it plan all of them and prune
    when run (12 ms a statement over 99 days)."""
    return [
        (f"'{floor(start, 'h').isoformat()}'::timestamptz", f"'{end.isoformat()}'::timestamptz")
        for start, end in spans
        if reads_packed(start)
    ]


def after_insert(table: str) -> tuple[str, ...]:
    """Statements the insert into `table` runs over its `inserted` rows (their RETURNING
    must hold every column the sources read): new series, their tag keys, and the
    minutes whose rollups are now stale."""
    mine = [source for source in _sources.values() if source.table == table]
    if not mine:
        return ()
    series = " UNION ALL ".join(source.series("inserted") for source in mine)
    names = ", ".join(f"'{source.metric_name}'" for source in mine)
    keys = ", ".join(
        f"('{source.metric_name}', '{key}')" for source in mine for key, _ in source.labels
    )
    series_table, keys_table = MetricSeries._meta.db_table, MetricTagKey._meta.db_table
    return (
        f"INSERT INTO {series_table} (metric_name, tags_hash, tags, metric_type, unit) "
        f"{series} ON CONFLICT (metric_name, tags_hash) DO NOTHING",
        f"INSERT INTO {keys_table} (metric_name, tag_key) "  # noqa: S608
        f"SELECT k.* FROM (VALUES {keys}) AS k WHERE EXISTS (SELECT FROM inserted) "
        "ON CONFLICT (metric_name, tag_key) DO NOTHING",
        # Every name for every minute the rows fall in, whether or not each row has a
        # value for it: a minute re-rolled for nothing costs less than finding out here.
        f"INSERT INTO {DirtyMinute._meta.db_table} (metric_name, bucket_start) "  # noqa: S608
        f"SELECT n, m.b FROM (SELECT DISTINCT date_trunc('minute', \"timestamp\") AS b "
        f"FROM inserted) m CROSS JOIN unnest(ARRAY[{names}]::text[]) AS n",
    )
