"""The metric points' index on time alone is BRIN on every partition (a day of 1.1M points:
24 KB against 35 MB as a B-tree), built partition by partition without blocking writes."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from apps.metrics.models import MetricPoint
from tests.helpers import points_insert

TABLE = MetricPoint._meta.db_table


def time_indexes() -> dict[str, tuple[str, bool]]:
    """{partition: (access method, valid)} of the index attached to the parent's time index."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.relname, am.amname, x.indisvalid FROM pg_class p "
            "JOIN pg_inherits i ON i.inhparent = p.oid JOIN pg_index x ON x.indexrelid = "
            "i.inhrelid JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class c ON c.oid = "
            "x.indexrelid JOIN pg_am am ON am.oid = c.relam "
            "WHERE p.relname IN ('metric_ts', 'metric_ts_brin') AND p.relkind = 'I'"
        )
        return {name: (method, valid) for name, method, valid in cursor.fetchall()}


def partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass",
            [TABLE],
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_every_partition_has_the_brin_index_and_the_way_back_has_the_btree():
    now = datetime.now(UTC)
    assert time_indexes() == dict.fromkeys(partitions(), ("brin", True))
    MetricPoint.objects.create(
        metric_name="m", metric_type="gauge", value=1, tags_hash=0, timestamp=now, received_at=now
    )
    call_command("migrate", "metrics", "0006", verbosity=0)
    try:
        assert time_indexes() == dict.fromkeys(partitions(), ("btree", True))
    finally:
        call_command("migrate", "metrics", verbosity=0)
    assert time_indexes() == dict.fromkeys(partitions(), ("brin", True))
    assert MetricPoint.objects.count() == 1

    # A partition made later has it too (beat's maintain-partitions, ahead).
    call_command("maintain_partitions", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid")
        assert cursor.fetchone()[0] == 0
    assert set(time_indexes()) == partitions()


def index_sizes(partition: str) -> dict[str, tuple[int, int]]:
    """{index name: (oid, bytes)} of a partition's indexes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.oid, pg_relation_size(c.oid) FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = %s::regclass",
            [partition],
        )
        return {name: (oid, size) for name, oid, size in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_the_daily_purge_rebuilds_the_indexes_of_the_day_before_yesterday_once():
    """20 metrics written at once leave the (metric_name, timestamp) index's pages half
    full; the daily purge rebuilds the indexes of the period that ended a day before."""
    from apps.ingest.tasks import purge_expired

    # Days ahead, made by the migrations (whatever conversions other tests ran before:
    # a table converted with rows has one legacy partition up to tomorrow).
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    today += timedelta(days=4)
    day = today - timedelta(days=2)
    settled = f"{TABLE}_{day:%Y_%b_%d}".lower()
    recent = f"{TABLE}_{today - timedelta(days=1):%Y_%b_%d}".lower()
    for start in (day, today - timedelta(days=1)):  # in time order, 20 metrics at once
        points_insert(start, 40000)
    before = {name: index_sizes(name) for name in (settled, recent)}

    with time_machine.travel(today + timedelta(hours=3, minutes=30), tick=False):
        purge_expired.apply()  # beat's "purge-analytics": the task, no arguments

    after = {name: index_sizes(name) for name in (settled, recent)}
    assert after[recent] == before[recent]  # ended less than a day ago: left alone
    (index,) = [name for name in before[settled] if "metric_name" in name]
    assert after[settled][index][0] != before[settled][index][0]  # a new index, same name
    assert after[settled][index][1] < 0.75 * before[settled][index][1]
    assert MetricPoint.objects.filter(timestamp__gte=day, timestamp__lt=today).count() == 80000


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_cut_short_is_cleaned_up_and_done_again_by_the_next_daily_purge():
    """REINDEX CONCURRENTLY cut short leaves an invalid copy of an index, written by
    every insert and never read: the next daily purge drops it and rebuilds that
    partition, whatever its day."""
    from apps.ingest.tasks import purge_expired

    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=3)
    partition = f"{TABLE}_{day:%Y_%b_%d}".lower()
    points_insert(day, 300, name="'metric.' || (n % 3)")
    with connection.cursor() as cursor:
        valid = index_sizes(partition)
        # What a cut-short rebuild leaves: an invalid copy (here: a unique index on
        # repeated names, which fails while building concurrently).
        with pytest.raises(Exception, match="could not create unique index"):
            copy = f'"{partition[:40]}_ccnew"'
            cursor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {copy} ON {partition} (metric_name)")
        cursor.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid")
        assert cursor.fetchone()[0] == 1

    with time_machine.travel(day + timedelta(days=6, hours=3, minutes=30), tick=False):
        purge_expired.apply()

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid")
        assert cursor.fetchone()[0] == 0
    after = index_sizes(partition)
    assert set(after) == set(valid)
    assert all(after[name][0] != valid[name][0] for name in valid)  # rebuilt
