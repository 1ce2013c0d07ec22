"""Time-partitioned tables: a day (or a week) a partition, dropped whole.

A kind whose model is a `PartitionedRecord` keeps its rows in a table range-partitioned
by `timestamp`, one partition a day (UTC), or a week (from Monday) for a kind whose
model sets `partition_period = "week"`: the kinds written seldom, whose days would be
tiny tables (each partition costs the catalog a table and its indexes, and a query
without a time range a scan of each). A table another app keeps (the health checks,
by `checked_at`) is partitioned the same way once registered (`time_table_register`).
django-postgres-extra creates and drops the partitions, as decided here:

- ahead (`partitions_maintain`, beat's hourly maintain-partitions): every period from
  the newest partition up to PARTITIONS_AHEAD_DAYS from now, so a missed run (beat
  down for days) leaves no hole;
- compacted (`partitions_compact`, the daily purge): a period's indexes rebuilt once,
  a day after it ended;
- dropped (`partitions_expired_drop`, the daily purge): a period once it ends a whole
  day past the kind's retention cutoff (the day of margin covers items accepted just
  inside the window that wait in the outbox). A period partly inside the window keeps
  all its rows until then: up to two days longer than the retention setting for a
  daily table, up to eight for a weekly one.

A row whose period has no partition (beat down longer than that, a clock far off) goes
to the table's default partition, and moves into its period's when that is created.

A table converted with rows in it keeps them in one partition of their own,
`<table>_legacy`, holding every time before the end of tomorrow's period: the daily
purge deletes its expired rows (and the default partition's) in batches as before, and
drops it once it ends past retention. An empty table gets a partition for every period
of the retention window at once.

PostgreSQL cannot enforce `event_id` unique across partitions. A row is stored only if
its (kind, event_id) goes into EventKey first: that table is partitioned by week (the
generation), unique within one, and the insert also checks the week before. A retry is
therefore stored once if it comes within 7 days (up to 14) of the first, whatever
timestamp it carries. Weeks move on under an exclusive advisory lock that every insert
holds shared, so no two inserts can each miss the other's key across the change. A row
whose event_id the server made up (SERVER_EVENT_ID) has no key: nothing can send it again.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from psqlextra.partitioning import (
    PostgresPartitioningConfig,
    PostgresPartitioningManager,
    PostgresTimePartition,
    PostgresTimePartitionSize,
)
from psqlextra.partitioning.constants import AUTO_PARTITIONED_COMMENT
from psqlextra.partitioning.strategy import PostgresPartitioningStrategy

from apps.core.db import AdvisoryLock

from .models import DedupeGeneration, EventKey
from .registry import RecordKind, all_kinds

DEDUPE_LOCK = AdvisoryLock.DEDUPE_WEEK
KEYS = EventKey._meta.db_table
GENERATION = DedupeGeneration._meta.db_table
DAY = PostgresTimePartitionSize(days=1)
WEEK = PostgresTimePartitionSize(weeks=1)
LEGACY_SUFFIX = "_legacy"
# The week new keys go to; this week's by the clock if the row is missing (a flushed
# database), whose partition the migration or the hourly maintenance made.
CURRENT = (
    "SELECT coalesce(max(generation), date_trunc('week', now() AT TIME ZONE 'UTC')::date) "
    f"AS generation FROM {GENERATION}"
)
DEFAULT_SUFFIX = "_default"
# Set on a row whose event_id the server made up (the client sent none): no retry can
# carry it, so it needs no key, and costs none.
SERVER_EVENT_ID = "_server_event_id"
# DDL waits at most this for a long read on the table, then gives up until the next run:
# queued behind it, every later query of the table would wait too.
LOCK_TIMEOUT = "5s"


def event_id_made_up(row: dict, kind: RecordKind) -> None:
    """Give a row sent without an event_id one of the server's. For a partitioned kind it
    is marked SERVER_EVENT_ID: no retry can carry it, so it needs no key."""
    row["event_id"] = str(uuid.uuid4())
    if is_partitioned(kind):
        row[SERVER_EVENT_ID] = True


def is_partitioned(kind: RecordKind) -> bool:
    return getattr(kind.model, "_partitioning_meta", None) is not None


def partitioned_kinds() -> list[RecordKind]:
    return [kind for kind in all_kinds() if is_partitioned(kind)]


@dataclass(frozen=True)
class TimeTable:
    """A table range-partitioned by a time column, a day or a week a partition: a
    partitioned kind's (by `timestamp`, its event_ids kept unique by EventKey), or one
    another app keeps and registers (`time_table_register`: the health checks)."""

    name: str  # the kind's, or the name it was registered under
    model: type[models.Model]
    column: str
    cutoff: Callable[[datetime], datetime]  # its retention cutoff at a moment
    keyed: bool = False

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def size(self) -> PostgresTimePartitionSize:
        """A day, or a week for a model whose `partition_period` says "week" (read off the
        model as it is now: a migration's historical model has no such attribute)."""
        return WEEK if getattr(self.model, "partition_period", "day") == "week" else DAY


_registered: dict[str, TimeTable] = {}


def time_table_register(
    name: str, model: type[models.Model], *, column: str, cutoff: Callable[[datetime], datetime]
) -> None:
    """Partition `model`'s table by `column` like the kinds' (from AppConfig.ready; its
    migration calls `partitioning_operations` with `name`)."""
    _registered[name] = TimeTable(name, model, column, cutoff)


def time_tables() -> list[TimeTable]:
    """The partitioned kinds' tables, then the registered ones."""
    from .retention import retention_cutoff

    def cutoff_of(kind: str) -> Callable[[datetime], datetime]:
        return lambda now: retention_cutoff(kind, now=now)

    kinds = [
        TimeTable(kind.name, kind.model, "timestamp", cutoff_of(kind.name), keyed=True)
        for kind in partitioned_kinds()
    ]
    return kinds + list(_registered.values())


def time_table(name: str) -> TimeTable:
    return next(t for t in time_tables() if t.name == name)


def week_of(moment: datetime | date) -> date:
    day = moment.date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


# --- the insert ----------------------------------------------------------------------


def dedupe_lock(cursor) -> None:
    """Held by every insert of a partitioned kind until its transaction ends."""
    cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [DEDUPE_LOCK])


def keyed_rows_sql(kind: RecordKind, *, optimistic: bool = False) -> str:
    """CTEs after `rows`: `keyed` (the clients' event_ids new in this and last week's
    keys, now keys) and `fresh` (the rows to insert, one per new event_id: the first
    sent wins; a row whose event_id the server made needs no key).

    `optimistic`: the keys go in without `ON CONFLICT` and without `DISTINCT`, so a key
    this week already holds, or an event_id sent twice among these rows, fails the
    statement (a unique violation) instead of being skipped. A statement that succeeds
    therefore saw each event_id once, and `fresh` is `rows` without the sort that picks
    the first of each. ~3 us of database CPU an item less (no index probe before each
    insert), and ~1 more (no sort of whole rows). For a first try: on the violation,
    the caller runs the statement again without it.
    """
    literal = "'" + kind.name.replace("'", "''") + "'"
    keys = (
        f"keyed AS (INSERT INTO {KEYS} (kind, event_id, generation) "
        f"SELECT {'' if optimistic else 'DISTINCT '}{literal}, r.event_id, g.generation "
        f"FROM rows r, ({CURRENT}) g "
        f'WHERE r."{SERVER_EVENT_ID}" IS NOT TRUE AND '
        # Last week's keys probed one row at a time (a subquery with LIMIT is never
        # made a join): as an anti-join, a fresh table's missing statistics had it hash
        # every stored key for each batch.
        f"(SELECT 1 FROM {KEYS} k WHERE k.kind = {literal} AND k.event_id = r.event_id "
        "AND k.generation = g.generation - 7 LIMIT 1) IS NULL "
        # Keys in their index's order: each insert finds its leaf next to the last one's
        # (without the sort, random event_ids took ~2 us a key more).
        + ("ORDER BY r.event_id " if optimistic else "ON CONFLICT DO NOTHING ")
        + "RETURNING event_id), "
    )
    new_or_server = f'WHERE "{SERVER_EVENT_ID}" OR event_id IN (SELECT event_id FROM keyed)'
    if optimistic:
        return f"{keys}fresh AS (SELECT * FROM rows {new_or_server})"
    return (
        f"{keys}fresh AS (SELECT DISTINCT ON (event_id) * FROM rows {new_or_server} "
        "ORDER BY event_id, batch, ord)"
    )


# --- which partitions ------------------------------------------------------------------


def partition_bounds(table: str) -> list[tuple[str, datetime | None, datetime]]:
    """(name, lower or None for MINVALUE, upper) of each range partition of `table`,
    by upper bound; the default partition is not one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, (regexp_match(b.expr, 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz, "
            "(regexp_match(b.expr, 'TO \\(''([^'']+)''\\)'))[1]::timestamptz "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid, "
            "pg_get_expr(c.relpartbound, c.oid) AS b(expr) "
            "WHERE i.inhparent = %s::regclass AND b.expr <> 'DEFAULT'",
            [table],
        )
        return sorted(cursor.fetchall(), key=lambda bound: bound[2])


def period_start(size: PostgresTimePartitionSize, moment: datetime) -> datetime:
    """The start (UTC) of the day or week holding `moment`."""
    return size.start(moment.astimezone(UTC)).replace(tzinfo=UTC)


class TimePartitions(PostgresPartitioningStrategy):
    """Periods (days or weeks) from the newest partition to PARTITIONS_AHEAD_DAYS from
    now; periods whose end is a whole day before `cutoff`, walking back until one is
    gone."""

    def __init__(
        self,
        *,
        size: PostgresTimePartitionSize,
        newest: datetime | None,
        now: datetime,
        cutoff: datetime,
    ):
        self.size = size
        self.now = now
        self.cutoff = cutoff
        self.first = period_start(size, newest or cutoff)

    def to_create(self):
        start = self.first
        while start < period_start(DAY, self.now) + timedelta(days=settings.PARTITIONS_AHEAD_DAYS):
            yield PostgresTimePartition(size=self.size, start_datetime=start)
            start += self.size.as_delta()

    def to_delete(self):
        # The period that ends a day before the cutoff, or before it.
        start = period_start(self.size, self.cutoff - timedelta(days=1)) - self.size.as_delta()
        while True:
            yield PostgresTimePartition(size=self.size, start_datetime=start)
            start -= self.size.as_delta()


class WeeklyKeys(PostgresPartitioningStrategy):
    """This week's and next week's keys; weeks before the last one go."""

    def __init__(self, *, now: datetime):
        self.now = now

    def to_create(self):
        for weeks in (0, 1):
            yield PostgresTimePartition(
                size=WEEK, start_datetime=period_start(WEEK, self.now + relativedelta(weeks=weeks))
            )

    def to_delete(self):
        week = period_start(WEEK, self.now) - relativedelta(weeks=2)
        while True:
            yield PostgresTimePartition(size=WEEK, start_datetime=week)
            week -= relativedelta(weeks=1)


# --- maintenance -----------------------------------------------------------------------


def partitions_plan(model: type[models.Model], strategy, *, create: bool):
    """django-postgres-extra's plan for `model` under `strategy`: the partitions to create
    (`create`) or to drop; None when there is nothing to do."""
    manager = PostgresPartitioningManager([PostgresPartitioningConfig(model, strategy)])
    plans = manager.plan(skip_create=not create, skip_delete=create).model_plans
    return plans[0] if plans else None


def partitions_apply(plan) -> None:
    """Run a plan in one transaction, its DDL waiting at most LOCK_TIMEOUT for a lock."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        plan.apply(using=None)


def generation_advance(*, now: datetime | None = None) -> date:
    """Make this week the one new keys go to (its partition must exist). Waits for the
    inserts under way: their keys are committed before any insert checks them as last
    week's."""
    week = week_of(now or timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT generation FROM {GENERATION}")
        current = cursor.fetchone()
        if current is not None and current[0] >= week:
            return current[0]
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DEDUPE_LOCK])
        cursor.execute(f"DELETE FROM {GENERATION}")
        cursor.execute(f"INSERT INTO {GENERATION} (generation) VALUES (%s)", [week])
    return week


def _periods(table: TimeTable, now: datetime) -> TimePartitions | None:
    if not _partitioned(table.table):
        return None  # its migration has not run yet
    bounds = partition_bounds(table.table)
    return TimePartitions(
        size=table.size,
        newest=bounds[-1][2] if bounds else None,
        now=now,
        cutoff=table.cutoff(now),
    )


def partitions_maintain(
    *, now: datetime | None = None, names: list[str] | None = None
) -> dict[str, int]:
    """Create every partitioned table's days (or weeks) ahead (or those of the kinds or
    registered tables `names`), and the keys' weeks; move the keys on to this week and
    drop the weeks before the last one. Returns {table: partitions created or dropped}.
    Periods past retention are the daily purge's (`partitions_expired_drop`)."""
    now = now or timezone.now()
    result = {}
    for table in time_tables():
        if names is not None and table.name not in names:
            continue
        if (strategy := _periods(table, now)) is None:
            continue
        plan = partitions_plan(table.model, strategy, create=True)
        result[table.table] = len(plan.creations) if plan else 0
        if plan is None:
            continue
        # A period with rows waiting in the default partition is created with them.
        plan.creations = [p for p in plan.creations if not _create_over_default(table, p)]
        if plan.creations:
            partitions_apply(plan)
    changed = 0
    if plan := partitions_plan(EventKey, WeeklyKeys(now=now), create=True):
        partitions_apply(plan)
        changed += len(plan.creations)
    generation_advance(now=now)
    if plan := partitions_plan(EventKey, WeeklyKeys(now=now), create=False):
        partitions_apply(plan)
        changed += len(plan.deletions)
    result[KEYS] = changed
    return result


def partitions_compact(*, now: datetime | None = None) -> list[str]:
    """Rebuild the indexes of each partition whose period ended between one and two days
    ago: the daily purge's, so each period's once. Written by many series at once, a
    period's B-trees are left with half-full pages (the metric points' (metric_name,
    timestamp) index of a day of 1.1M points: 122 MB, 70 MB rebuilt, 47 bytes a point);
    the few rows that come later still go in. Also every partition a rebuild was cut
    short in (`partition_reindex`), whatever its period. Returns the partitions rebuilt."""
    now = now or timezone.now()
    rebuilt = []
    for table in time_tables():
        if not _partitioned(table.table):
            continue
        unfinished = _unfinished_rebuilds(table=table.table)
        for name, lower, upper in partition_bounds(table.table):
            settled = lower is not None and now - timedelta(days=2) <= upper < now - timedelta(
                days=1
            )
            if settled or name in unfinished:
                partition_reindex(name)
                rebuilt.append(name)
    return rebuilt


# What REINDEX CONCURRENTLY names the copies it builds and retires.
_REBUILD_COPY = r"_cc(new|old)[0-9]*$"


def _unfinished_rebuilds(
    *, table: str | None = None, partition: str | None = None
) -> dict[str, list[str]]:
    """{partition: its invalid index copies} of the partitions of `table`, or of that one
    `partition`, a rebuild was cut short in (a crash, a cancel, a lost connection)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.relname, c.relname FROM pg_inherits i JOIN pg_class t ON t.oid = i.inhrelid "
            "JOIN pg_index x ON x.indrelid = t.oid JOIN pg_class c ON c.oid = x.indexrelid "
            "WHERE NOT x.indisvalid AND c.relname ~ %s "
            "AND (%s::text IS NULL OR i.inhparent = %s::regclass) "
            "AND (%s::text IS NULL OR t.oid = %s::regclass)",
            [_REBUILD_COPY, table, table, partition, partition],
        )
        found: dict[str, list[str]] = {}
        for name, index in cursor.fetchall():
            found.setdefault(name, []).append(index)
        return found


def partition_reindex(name: str) -> None:
    """Rebuild the indexes of partition `name`: REINDEX CONCURRENTLY, reads and writes
    going on. One cut short leaves invalid copies of the indexes (`<index>_ccnew`), kept
    up to date by every write and never used: they are dropped first. Inside a
    transaction (a test's), where neither can run, a plain REINDEX."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute(f"REINDEX TABLE {quote(name)}")
            return
        for index in _unfinished_rebuilds(partition=name).get(name, []):
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(index)}")
        cursor.execute(f"REINDEX TABLE CONCURRENTLY {quote(name)}")


def partitions_expired_drop(
    *, table: TimeTable, now: datetime, batch: Callable[[str], int], dry_run: bool = False
) -> int:
    """Rows of `table` past retention that go now: the periods ended a whole day before
    the cutoff, dropped (their rows counted first), and the expired rows of the default
    and legacy partitions, deleted by `batch(name)` (which returns how many); the legacy
    one is dropped itself once it ends a day before the cutoff. A table not partitioned
    yet (its migration to come) is `batch`'s as a whole. With `dry_run`, the rows that
    would go."""
    quote = connection.ops.quote_name
    cutoff = table.cutoff(now)
    column = quote(table.column)
    strategy = _periods(table, now)
    if strategy is None:
        if not dry_run:
            return batch(table.table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM {quote(table.table)} WHERE {column} < %s", [cutoff]
            )
            return cursor.fetchone()[0]
    plan = partitions_plan(table.model, strategy, create=False)
    doomed = [f"{table.table}_{p.name()}" for p in plan.deletions] if plan else []
    legacy = legacy_partition(table.table)
    legacy_gone = legacy is not None and legacy[1] <= cutoff - timedelta(days=1)
    if legacy_gone:
        doomed.append(legacy[0])
    # Partitions of no single day: their expired rows go in batches.
    mixed = [default_partition(table.table)] + ([legacy[0]] if legacy and not legacy_gone else [])
    with connection.cursor() as cursor:
        rows = 0
        for name in doomed:
            cursor.execute(f"SELECT count(*) FROM {quote(name)}")
            rows += cursor.fetchone()[0]
        for name in mixed:
            if dry_run:
                cursor.execute(f"SELECT count(*) FROM {quote(name)} WHERE {column} < %s", [cutoff])
                rows += cursor.fetchone()[0]
            else:
                rows += batch(name)
    if dry_run:
        return rows
    if plan:
        partitions_apply(plan)
    if legacy_gone:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            cursor.execute(f"DROP TABLE {quote(legacy[0])}")
    return rows


def default_partition(table: str) -> str:
    """Where a row goes when no day's partition holds its time (beat down longer than
    PARTITIONS_AHEAD_DAYS, a clock far off): stored, never refused; moved into its day's
    partition when that is created."""
    return f"{table[: 63 - len(DEFAULT_SUFFIX)]}{DEFAULT_SUFFIX}"


def _create_over_default(table: TimeTable, partition: PostgresTimePartition) -> bool:
    """Create the period's partition with the rows of its period that wait in the default
    one (PostgreSQL refuses to create it over them); False if none wait there."""
    quote = connection.ops.quote_name
    default = quote(default_partition(table.table))
    column = quote(table.column)
    within = f"{column} >= %s AND {column} < %s"
    bounds = [partition.start_datetime, partition.end_datetime]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {default} WHERE {within} LIMIT 1", bounds)
        if cursor.fetchone() is None:
            return False
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        name = quote(f"{table.table}_{partition.name()}")
        cursor.execute(
            f"CREATE TABLE {name} (LIKE {quote(table.table)} INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS)"
        )
        cursor.execute(
            f"WITH moved AS (DELETE FROM {default} WHERE {within} RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            bounds,
        )
        cursor.execute(
            f"ALTER TABLE {quote(table.table)} ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{partition.from_values}') TO ('{partition.to_values}')"
        )
        cursor.execute(f"COMMENT ON TABLE {name} IS %s", [AUTO_PARTITIONED_COMMENT])
    return True


def _partitioned(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [table])
        return cursor.fetchone()[0] == "p"


def legacy_partition(table: str) -> tuple[str, datetime] | None:
    """(name, upper bound) of the table's partition from before partitioning, if any."""
    for name, lower, upper in partition_bounds(table):
        if lower is None and name.endswith(LEGACY_SUFFIX):
            return name, upper
    return None


# --- converting a table that holds rows ---------------------------------------------------


def table_partition(*, model: type[models.Model], name: str) -> None:
    """Turn `model`'s table (that of the kind or registered table `name`) into one
    partitioned by day or week, without blocking writes for more than a moment, whatever
    it holds. Run outside a transaction (a migration with atomic = False): it builds an
    index concurrently.

    1. A unique index (id, <time>) for the new primary key, built concurrently, and a
       CHECK that every row is before the day after tomorrow, validated without a lock
       that blocks writes: what lets the table become a partition without a scan. (An
       empty table's bound is two days before the retention window instead: every day
       of the window then gets its own partition.)
    2. A kind's keys for the rows received in the last 14 days, so their retries stay
       refused.
    3. One short transaction: the table is renamed `<table>_legacy` (its indexes too),
       an empty partitioned table takes its name, columns, defaults, identity (going on
       from the highest id), checks and foreign keys, and the old table is attached as
       the partition of every time before that bound, its indexes and foreign keys
       adopted as the new ones' partitions. A kind's unique constraint on event_id is
       dropped there (EventKey's job now). The periods from the bound on are then
       created by `partitions_maintain`.
    """
    spec = time_table(name)
    table = model._meta.db_table
    quote = connection.ops.quote_name
    column = quote(spec.column)
    if _partitioned(table):
        return
    with connection.cursor() as cursor:
        size = spec.size
        # Tomorrow's period's end: at least a day from now, so no row sent meanwhile
        # (at most INGEST_FUTURE_TOLERANCE_SECONDS ahead) breaks the CHECK.
        upper = period_start(size, timezone.now() + timedelta(days=1)) + size.as_delta()
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {quote(table)})")
        if not cursor.fetchone()[0]:
            # Empty (a new install): the legacy partition holds no useful time, and
            # every period of the retention window gets its own partition at once.
            cutoff = spec.cutoff(timezone.now())
            upper = period_start(size, cutoff - timedelta(days=1)) - size.as_delta()
        bound = f"'{upper:%Y-%m-%d} 00:00:00+00'"
        check = f"{table[:40]}_before_partitions"
        id_ts = f"{table[:40]}_id_ts"
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(id_ts)}")  # a failed build's
        cursor.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY {quote(id_ts)} ON {quote(table)} (id, {column})"
        )
        cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT IF EXISTS {quote(check)}")
        cursor.execute(
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(check)} "
            f"CHECK ({column} < {bound}) NOT VALID"
        )
        cursor.execute(f"ALTER TABLE {quote(table)} VALIDATE CONSTRAINT {quote(check)}")
        cursor.execute("SELECT now()")
        keys_from = cursor.fetchone()[0]
        if spec.keyed:
            _keys_copy(cursor, table, name, since=keys_from - timedelta(days=14))
    legacy = f"{table[: 63 - len(LEGACY_SUFFIX)]}{LEGACY_SUFFIX}"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {quote(table)} IN ACCESS EXCLUSIVE MODE")
        if spec.keyed:
            _keys_copy(cursor, table, name, since=keys_from - timedelta(minutes=5))
        cursor.execute(
            "SELECT i.relname, c.conname, c.contype, x.indisunique AND x.indnatts = 1 "
            "AND a.attname = 'event_id' FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid LEFT JOIN pg_constraint c "
            "ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid "
            "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0] "
            "WHERE x.indrelid = %s::regclass",
            [table],
        )
        for index, constraint, kind_of, event_id_unique in cursor.fetchall():
            renamed = quote(f"{index[:50]}_legacy")
            # (id) alone: (id, timestamp) becomes the key below. event_id: EventKey's now.
            if kind_of == "p" or (event_id_unique and constraint):
                cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(constraint)}")
            elif event_id_unique:
                cursor.execute(f"DROP INDEX {quote(index)}")
            elif constraint:
                cursor.execute(
                    f"ALTER TABLE {quote(table)} RENAME CONSTRAINT {quote(constraint)} TO {renamed}"
                )
            else:
                cursor.execute(f"ALTER INDEX {quote(index)} RENAME TO {renamed}")
        cursor.execute(
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(id_ts + '_legacy')} "
            f"PRIMARY KEY USING INDEX {quote(id_ts + '_legacy')}"
        )
        cursor.execute(f"ALTER TABLE {quote(table)} RENAME TO {quote(legacy)}")
        cursor.execute(
            f"CREATE TABLE {quote(table)} (LIKE {quote(legacy)} INCLUDING DEFAULTS "
            f"INCLUDING IDENTITY INCLUDING CONSTRAINTS) PARTITION BY RANGE ({column})"
        )
        cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(check)}")
        # Attaching the old table adopts its foreign keys as these ones' partitions.
        _foreign_keys_copy(cursor, legacy, table)
        cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {quote(legacy)}")
        cursor.execute(
            f"ALTER TABLE {quote(table)} ALTER COLUMN id RESTART WITH {cursor.fetchone()[0]}"
        )
        cursor.execute(
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(table[:55] + '_pkey')} "
            f"PRIMARY KEY (id, {column})"
        )
        with connection.schema_editor(atomic=False) as editor:
            for index in model._meta.indexes:
                editor.add_index(model, index)
        cursor.execute(
            f"ALTER TABLE {quote(table)} ATTACH PARTITION {quote(legacy)} "
            f"FOR VALUES FROM (MINVALUE) TO ({bound})"
        )
        cursor.execute(
            f"CREATE TABLE {quote(default_partition(table))} PARTITION OF {quote(table)} DEFAULT"
        )


def partitioning_operations(app_label: str, models_by_kind: dict[str, str]) -> list:
    """A migration's operations turning the tables of `models_by_kind` ({kind or
    registered name: model name}, of `app_label`) into ones partitioned by day (or week:
    `TimeTable.size`), in place (`table_partition`), and back (`table_unpartition`). The
    migration must say `atomic = False`."""
    from django.db import migrations
    from django.db.models import UUIDField

    def partition(apps, schema_editor):
        for kind, name in models_by_kind.items():
            table_partition(model=apps.get_model(app_label, name), name=kind)
        partitions_maintain(names=list(models_by_kind))

    def unpartition(apps, schema_editor):
        for kind, name in models_by_kind.items():
            table_unpartition(model=apps.get_model(app_label, name), name=kind)

    return [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                # Unique no more in the table: EventKey keeps retries out.
                migrations.AlterField(
                    model_name=name.lower(),
                    name="event_id",
                    field=UUIDField(default=uuid.uuid4, editable=False),
                )
                for kind, name in models_by_kind.items()
                if time_table(kind).keyed
            ],
        ),
        migrations.RunPython(partition, unpartition),
    ]


def table_unpartition(*, model: type[models.Model], name: str) -> None:
    """Undo `table_partition` (a migration's way back): one plain table with every row,
    `id` alone its key and a kind's `event_id` unique again. Copies the rows under a
    lock: for a downgrade, not for a live deployment."""
    keyed = time_table(name).keyed
    table = model._meta.db_table
    if not _partitioned(table):
        return
    quote = connection.ops.quote_name
    plain = quote(f"{table[:50]}_plain")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {quote(table)} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            f"CREATE TABLE {plain} (LIKE {quote(table)} INCLUDING DEFAULTS INCLUDING IDENTITY "
            "INCLUDING CONSTRAINTS)"
        )
        # A retried item may be in it twice (from before the keys, or past their window).
        rows = "DISTINCT ON (event_id) * " if keyed else "* "
        order = " ORDER BY event_id, id" if keyed else ""
        cursor.execute(f"INSERT INTO {plain} SELECT {rows}FROM {quote(table)}{order}")
        cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {plain}")
        restart = cursor.fetchone()[0]
        foreign = _foreign_keys(cursor, table)
        cursor.execute(f"DROP TABLE {quote(table)}")
        cursor.execute(f"ALTER TABLE {plain} RENAME TO {quote(table)}")
        cursor.execute(f"ALTER TABLE {quote(table)} ALTER COLUMN id RESTART WITH {restart}")
        cursor.execute(f"ALTER TABLE {quote(table)} ADD PRIMARY KEY (id)")
        if keyed:
            cursor.execute(f"ALTER TABLE {quote(table)} ADD UNIQUE (event_id)")
        for constraint, definition in foreign:
            cursor.execute(
                f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(constraint)} {definition}"
            )
        with connection.schema_editor(atomic=False) as editor:
            for index in model._meta.indexes:
                editor.add_index(model, index)


def index_add_concurrently(model: type[models.Model], index: models.Index) -> None:
    """Add `index` to `model`'s partitioned table without blocking its writes: made on the
    parent alone (not valid yet), built CONCURRENTLY on each partition (the legacy and
    default ones too), each attached; the parent's is valid once all are. Run outside a
    transaction (a migration with atomic = False); a run cut short is run again."""
    table = model._meta.db_table
    quote = connection.ops.quote_name
    with connection.schema_editor(atomic=False) as editor:
        parent = str(index.create_sql(model, editor))
        child = str(index.create_sql(model, editor, concurrently=True))
    on_table = f" ON {quote(table)}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_class WHERE relname = %s AND relkind = 'I'", [index.name])
        if cursor.fetchone() is None:
            cursor.execute(parent.replace(on_table, f" ON ONLY {quote(table)}", 1))
        cursor.execute(
            "SELECT c.relname, EXISTS (SELECT 1 FROM pg_inherits a JOIN pg_class i "
            "ON i.oid = a.inhrelid JOIN pg_index x ON x.indexrelid = i.oid "
            "WHERE a.inhparent = %s::regclass AND x.indrelid = c.oid) "
            "FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid "
            "WHERE h.inhparent = %s::regclass ORDER BY 1",
            [index.name, table],
        )
        for partition, attached in cursor.fetchall():
            if attached:
                continue
            name = quote(f"{partition[: 62 - len(index.name)]}_{index.name}")
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")  # a failed build's
            cursor.execute(
                child.replace(quote(index.name), name, 1).replace(
                    on_table, f" ON {quote(partition)}", 1
                )
            )
            cursor.execute(f"ALTER INDEX {quote(index.name)} ATTACH PARTITION {name}")


def _foreign_keys(cursor, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the foreign keys `table` has itself (not through its parent)."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' AND conparentid = 0 ORDER BY conname",
        [table],
    )
    return cursor.fetchall()


def _foreign_keys_copy(cursor, source: str, target: str) -> None:
    quote = connection.ops.quote_name
    for constraint, definition in _foreign_keys(cursor, source):
        cursor.execute(
            f"ALTER TABLE {quote(target)} ADD CONSTRAINT {quote(constraint)} {definition}"
        )


def _keys_copy(cursor, table: str, kind: str, *, since: datetime) -> None:
    cursor.execute(
        f"INSERT INTO {KEYS} (kind, event_id, generation) "
        f"SELECT %s, t.event_id, g.generation FROM {connection.ops.quote_name(table)} t, "
        f"({CURRENT}) g "
        "WHERE t.received_at >= %s ON CONFLICT DO NOTHING",
        [kind, since],
    )
