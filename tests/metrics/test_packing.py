"""Metric points packed into per-hour blocks once their day is over (apps.metrics.packing):
every read answers as it did from the rows, a late point for a packed day counts, a
retry of a packed point is still refused, and the blocks go with the points' days."""

import io
import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from apps.ingest.partitions import partitions_maintain
from apps.ingest.retention import retention_purge
from apps.metrics.models import (
    MetricPoint,
    MetricRollup,
    PointBlock,
    RollupBlock,
    RollupFailure,
)
from apps.metrics.rollups import rollup_pending
from apps.metrics.tasks import pack_points
from tests.helpers import drain_outbox, iso, new_id, points_insert, post_json

pytestmark = pytest.mark.django_db

RECORD = "/api/v1/analytics/metrics/record"
BASE = "/api/v1/analytics/metrics/api.latency"
# Days ahead of the real clock: partitions the migrations made (a table converted with
# rows by another test has a legacy partition up to tomorrow).
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=4)
DAY1, DAY2 = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
# Beat's hourly "pack-metric-points" at 02:05 is the first to pack yesterday's last hour.
PACKED_AT = TODAY + timedelta(hours=2)
# Where the windows read start and end: mid-minute, so their edges are raw points.
EDGES = (
    DAY1 + timedelta(hours=3, minutes=20, seconds=31),
    DAY2 + timedelta(hours=5, seconds=17),
    DAY2 + timedelta(hours=9, minutes=59, seconds=29),
    PACKED_AT - timedelta(seconds=10),
)


def point(moment: datetime, value: float, endpoint: str, **extra) -> dict:
    return {
        "metric_name": "api.latency",
        "metric_type": "timer",
        "value": value,
        "tags": {"endpoint": endpoint},
        "timestamp": iso(moment),
        **extra,
    }


def record(client, items: list[dict]) -> None:
    for start in range(0, len(items), 500):
        response = post_json(client, RECORD, items[start : start + 500])
        assert response.status_code == 202, response.json()
    drain_outbox()
    rollup_pending()


def three_days(
    seed: int = 7, until: datetime = PACKED_AT, edges: tuple[datetime, ...] = EDGES
) -> list[dict]:
    """Points every ~7 minutes over the day before yesterday, yesterday and today's first
    hour (up to `until`), on three endpoints, several in some minutes."""
    rng = random.Random(seed)
    moments, moment = [], DAY1
    while moment < until:
        moments.append(moment)
        moment += timedelta(seconds=rng.randint(1, 840))
    # Bursts in the minutes where the windows of `answers` start and end.
    for edge in edges:
        moments += [edge.replace(second=0) + timedelta(seconds=s) for s in range(0, 60, 6)]
    return [
        point(moment, round(rng.lognormvariate(3, 1), 3), rng.choice("abc"))
        for moment in sorted(moments)
    ]


def read(client, path: str, **params) -> dict:
    response = client.get(f"{BASE}/{path}", params)
    assert response.status_code == 200, response.json()
    return response.json()


def answers(client, edges: tuple[datetime, ...] = EDGES) -> list[dict]:
    """Reads that take raw points of the packed days: windows starting mid-minute there
    (exact percentiles over few points, sketches over more), per endpoint, a series."""
    start, inside_start, inside_end, end = map(iso, edges)
    inside = inside_start, inside_end
    return [
        read(client, "statistics", **{"from": start, "to": end}),
        read(client, "statistics", **{"from": start, "to": end, "group_by": "endpoint"}),
        read(client, "statistics", **{"from": inside[0], "to": inside[1]}),
        read(client, "statistics", **{"from": start, "to": end, "tag": "endpoint:b"}),
        read(
            client,
            "time-series",
            **{"from": start, "to": end, "interval": "1h", "tag": "endpoint:c"},
        ),
        read(client, "time-series", **{"from": start, "to": end, "interval": "1h", "agg": "p95"}),
        read(client, "time-series", **{"from": inside[0], "to": inside[1], "interval": "1m"}),
        # Minute rollups over both days, every 15 minutes.
        read(client, "time-series", **{"from": start, "to": end, "interval": "15m", "agg": "p50"}),
        read(client, "time-series", **{"from": start, "to": end, "interval": "90m"}),
    ]


def volume(client) -> list[dict]:
    """The performance summary's metric volume over 48 hours (hour rollups)."""
    response = client.get("/api/v1/analytics/performance", {"hours": 48})
    assert response.status_code == 200, response.json()
    return response.json()["metrics"]


def same_as(answer):
    """`answer`, its floats compared to the last few bits: sums come out in another order."""
    if isinstance(answer, dict):
        return {key: same_as(value) for key, value in answer.items()}
    if isinstance(answer, list):
        return [same_as(value) for value in answer]
    if isinstance(answer, float):
        return pytest.approx(answer, rel=1e-12, abs=0)
    return answer


def stored_rows(start: datetime, end: datetime) -> int:
    return MetricPoint.objects.filter(timestamp__gte=start, timestamp__lt=end).count()


def packed_points(start: datetime, end: datetime) -> int:
    return sum(
        PointBlock.objects.filter(hour__gte=start, hour__lt=end).values_list("count", flat=True)
    )


@pytest.fixture
def clock():
    with time_machine.travel(PACKED_AT, tick=False) as traveller:
        partitions_maintain()  # beat's hourly task at that clock
        yield traveller


@pytest.mark.parametrize("exact_points", [10_000, 0])
def test_packed_days_answer_every_read_as_their_rows_did(
    clock, ingest_client, read_client, settings, exact_points
):
    settings.METRICS_EXACT_PERCENTILE_POINTS = exact_points  # 0: sketches and raw edges
    items = three_days()
    record(ingest_client, items)
    before = answers(read_client)
    since = iso(PACKED_AT - timedelta(hours=48))  # an hour boundary
    counted = [{"metric_name": "api.latency", "count": sum(i["timestamp"] >= since for i in items)}]
    assert volume(read_client) == counted
    today = sum(1 for item in items if item["timestamp"] >= iso(TODAY))

    pack_points.apply()  # the task as beat sends it: no arguments

    assert stored_rows(DAY1, TODAY) == 0
    assert packed_points(DAY1, TODAY) == len(items) - today
    assert stored_rows(TODAY, PACKED_AT) == today  # today's stay rows
    # And the minute and hour rollups of those days: an hour of a label set a block, and
    # a day of a label set a block.
    for res in ("m", "h"):
        rolled = MetricRollup.objects.filter(resolution=res)
        assert not rolled.filter(bucket_start__lt=TODAY).exists()
        assert rolled.filter(bucket_start__gte=TODAY).exists()
    minute_blocks = RollupBlock.objects.filter(resolution="m", block_start__lt=TODAY)
    assert minute_blocks.count() > 40
    hour_blocks = RollupBlock.objects.filter(resolution="h").order_by("block_start")
    assert [b.block_start for b in hour_blocks] == [DAY1] * 4 + [DAY2] * 4  # 3 endpoints, all
    assert hour_blocks.last().offsets == list(range(24))
    assert answers(read_client) == same_as(before)
    assert volume(read_client) == counted
    # A block is one label set's hour, its points in time order.
    block = PointBlock.objects.filter(hour__gte=DAY2).order_by("hour").first()
    assert block.count == len(block.times) == len(block.vals) > 1
    assert block.times == sorted(block.times)
    assert all(block.hour <= t < block.hour + timedelta(hours=1) for t in block.times)
    # A second run finds nothing left to pack.
    pack_points.apply()
    assert packed_points(DAY1, TODAY) == len(items) - today


# Later in the day: today's hours over are packed by the hourly run too.
LATER = TODAY + timedelta(hours=5, minutes=30)
TODAY_EDGES = (
    TODAY + timedelta(hours=1, minutes=20, seconds=31),  # in an hour packed
    TODAY + timedelta(hours=3, minutes=40, seconds=11),  # in the last hour packed
    TODAY + timedelta(hours=4, minutes=29, seconds=29),  # in an hour over, not packed yet
    LATER - timedelta(seconds=10),
)


@pytest.mark.parametrize("exact_points", [10_000, 0])
def test_todays_hours_are_packed_once_over_two_hours_and_read_as_their_rows_were(
    ingest_client, read_client, settings, exact_points
):
    settings.METRICS_EXACT_PERCENTILE_POINTS = exact_points
    edges = (*TODAY_EDGES, *EDGES)
    with time_machine.travel(LATER, tick=False) as clock:
        partitions_maintain()
        items = three_days(until=LATER, edges=edges)
        record(ingest_client, items)
        before = [answers(read_client, TODAY_EDGES), answers(read_client)]
        # The packing on a worker whose clock is 40 minutes ahead of the web host's: up
        # to 04:00 (its 06:10 less two hours, to the hour), which the reads still take.
        clock.move_to(LATER + timedelta(minutes=40))
        pack_points.apply()
        clock.move_to(LATER)

        until = TODAY + timedelta(hours=4)
        assert stored_rows(DAY1, until) == 0
        assert packed_points(DAY1, until) == sum(i["timestamp"] < iso(until) for i in items)
        assert stored_rows(until, LATER) == sum(i["timestamp"] >= iso(until) for i in items) > 0
        minutes = MetricRollup.objects.filter(resolution="m")
        assert not minutes.filter(bucket_start__lt=until).exists()
        assert minutes.filter(bucket_start__gte=until).exists()  # the last hour's
        minute_blocks = RollupBlock.objects.filter(resolution="m", block_start__gte=TODAY)
        assert {b.block_start for b in minute_blocks} == {
            TODAY + timedelta(hours=h) for h in range(4)
        }
        # Today's hours stay rows until the day is over (a block holds a day of them).
        assert not RollupBlock.objects.filter(resolution="h", block_start=TODAY).exists()
        assert MetricRollup.objects.filter(resolution="h", bucket_start=TODAY).exists()
        assert [answers(read_client, TODAY_EDGES), answers(read_client)] == same_as(before)

        # A late point for a packed hour of today: its minute counts at once, and the
        # next hour's run packs it again.
        minute = TODAY + timedelta(hours=2, minutes=10)
        record(ingest_client, [point(minute + timedelta(seconds=30), 1e6, "a")])
        assert not minute_blocks.filter(block_start=minute.replace(minute=0)).exists()
        window = {"from": iso(minute), "to": iso(minute + timedelta(minutes=1)), "interval": "1m"}
        buckets = read(read_client, "time-series", agg="max", **window)["buckets"]
        assert [b["value"] for b in buckets] == [1e6]
        hour = minute.replace(minute=0)
        label_sets = PointBlock.objects.filter(hour=hour).count()
        assert label_sets == 3  # a, b and c: the late point's label set has its block
        clock.move_to(LATER + timedelta(hours=1))
        pack_points.apply()
        assert stored_rows(DAY1, until) == 0
        assert minute_blocks.filter(block_start=hour).exists()
        assert read(read_client, "time-series", agg="max", **window)["buckets"] == buckets
        # Merged into its label set's block of the hour, in time order: one block each.
        blocks = PointBlock.objects.filter(hour=hour)
        assert blocks.count() == label_sets
        assert sum(b.count for b in blocks) == 1 + sum(
            hour <= datetime.fromisoformat(i["timestamp"]) < hour + timedelta(hours=1)
            for i in items
        )
        assert all(b.times == sorted(b.times) and len(b.vals) == b.count for b in blocks)


def test_a_late_point_for_a_packed_day_counts_in_its_minute_and_is_packed_the_next_day(
    clock, ingest_client, read_client
):
    minute = DAY2 + timedelta(hours=10, minutes=3)
    packed = [point(minute + timedelta(seconds=s), v, "a") for s, v in ((5, 10.0), (20, 30.0))]
    record(ingest_client, packed + [point(DAY2 + timedelta(hours=11), 1.0, "a")])
    pack_points.apply()

    record(ingest_client, [point(minute + timedelta(seconds=40), 50.0, "b")])  # a day late

    assert stored_rows(DAY2, TODAY) == 1
    # Its minute was rolled again from the packed points and the new one, its hour's
    # packed minutes back as rows first (the other hour stays packed), and its day's
    # packed hours too.
    hour = minute.replace(minute=0)
    minute_blocks = RollupBlock.objects.filter(resolution="m")
    assert not minute_blocks.filter(block_start=hour).exists()
    assert minute_blocks.filter(block_start=hour + timedelta(hours=1)).exists()
    assert not RollupBlock.objects.filter(resolution="h", block_start=DAY2).exists()
    rolled = MetricRollup.objects.get(resolution="h", bucket_start=hour, tags_hash=0)
    assert (rolled.count, rolled.sum) == (3, 90)
    hours = {"from": iso(hour), "to": iso(hour + timedelta(hours=2)), "interval": "1h"}
    assert [b["count"] for b in read(read_client, "time-series", **hours)["buckets"]] == [3, 1]
    rolled = MetricRollup.objects.get(resolution="m", bucket_start=minute, tags_hash=0)
    assert (rolled.count, rolled.sum, rolled.min, rolled.max) == (3, 90, 10, 50)
    series = {"from": iso(hour), "to": iso(hour + timedelta(hours=2)), "interval": "1m"}
    counts = [b["count"] for b in read(read_client, "time-series", **series)["buckets"]]
    assert counts == [3, 1]  # the minute once, and the next hour's packed minute
    whole = read(read_client, "statistics", **{"from": iso(DAY2), "to": iso(TODAY)})
    assert (whole["count"], whole["sum"]) == (4, 91)
    edge = {"from": iso(minute + timedelta(seconds=1)), "to": iso(minute + timedelta(seconds=50))}
    assert read(read_client, "statistics", **edge)["count"] == 3  # raw: packed and not

    clock.move_to(PACKED_AT + timedelta(days=1))
    pack_points.apply()
    assert stored_rows(DAY2, TODAY) == 0
    assert PointBlock.objects.filter(hour=minute.replace(minute=0)).count() == 2
    assert read(read_client, "statistics", **edge)["count"] == 3
    assert minute_blocks.filter(block_start=hour).exists()  # packed again
    assert RollupBlock.objects.filter(resolution="h", block_start=DAY2).count() == 3
    counts = [b["count"] for b in read(read_client, "time-series", **series)["buckets"]]
    assert counts == [3, 1]
    assert [b["count"] for b in read(read_client, "time-series", **hours)["buckets"]] == [3, 1]


def test_a_parked_minute_of_a_packed_day_is_read_raw_between_its_packed_neighbours(
    clock, ingest_client, read_client, settings
):
    settings.METRICS_EXACT_PERCENTILE_POINTS = 0  # the sketches
    items = three_days()
    record(ingest_client, items)
    pack_points.apply()
    before = answers(read_client)
    # A minute of a packed hour, inside the windows read, holding points, parked (its
    # rollup failed): reads take its points raw, and the hour's other minutes and the
    # day's other hours from the blocks, around it.
    inside = [i["timestamp"] for i in items if iso(EDGES[1]) < i["timestamp"] < iso(EDGES[2])]
    parked = datetime.fromisoformat(inside[len(inside) // 2]).replace(second=0, microsecond=0)
    assert parked.minute not in (0, 59)
    RollupFailure.objects.create(
        metric_name="api.latency", bucket_start=parked, error="simulated", failed_at=PACKED_AT
    )

    assert answers(read_client) == same_as(before)


def test_a_retry_of_a_packed_point_is_still_stored_once(clock, ingest_client, read_client):
    retried = point(DAY2 + timedelta(hours=6), 42.0, "a", event_id=new_id())
    record(ingest_client, [retried])
    pack_points.apply()
    assert packed_points(DAY2, TODAY) == 1

    record(ingest_client, [retried])

    assert stored_rows(DAY2, TODAY) == 0
    assert read(read_client, "statistics", **{"from": iso(DAY2), "to": iso(TODAY)})["count"] == 1


def test_blocks_are_compressed_and_go_with_the_points_days(clock, ingest_client, read_client):
    items = three_days()
    record(ingest_client, items)
    # A busy hour: its arrays are big enough to be compressed.
    points_insert(
        DAY2 + timedelta(hours=2), 20000, step="150 ms", name="'busy'", value="n % 97",
        tags_hash="1",
    )  # fmt: skip
    pack_points.apply()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT pg_column_compression(vals), pg_column_size(times) + pg_column_size(vals) "
            f"FROM {PointBlock._meta.db_table} WHERE metric_name = 'busy'"
        )
        ((method, size),) = cursor.fetchall()
    assert method == "lz4"
    assert size < 20000 * 8  # under 8 bytes a point for time and value (16 as rows' columns)

    # Hours of the first day, then the second day whole.
    window = {"from": iso(DAY1 + timedelta(hours=3)), "to": iso(TODAY)}
    count = read(read_client, "statistics", **window)["count"]
    assert count == sum(window["from"] <= i["timestamp"] < window["to"] for i in items)
    whole = read(read_client, "statistics", **{"from": iso(DAY1), "to": iso(TODAY)})["count"]
    assert count < whole
    clock.move_to(TODAY + timedelta(days=93))  # both days a day past the 90 days kept
    retention_purge()
    assert not PointBlock.objects.filter(hour__lt=TODAY).exists()
    assert not RollupBlock.objects.filter(resolution="m").exists()  # past the minutes' 30 days
    # The packed hour rollups answer for them (kept 2 years), then only the days.
    assert read(read_client, "statistics", **window)["count"] == count
    clock.move_to(TODAY + timedelta(days=2 * 365 + 3))
    retention_purge()
    assert not RollupBlock.objects.exists()
    # The first day's hours are gone: the window widens to its day (docs: tiered retention).
    assert read(read_client, "statistics", **window)["count"] == whole


def relation_bytes(table: str) -> tuple[int, int]:
    """(heap, indexes) bytes of a table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s), pg_indexes_size(%s)", [table, table])
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_an_emptied_day_gives_its_space_back():
    """Outside a transaction (as the worker runs it) the packed day's partition is
    vacuumed down to no pages and its indexes rebuilt empty."""
    day = f"{MetricPoint._meta.db_table}_{DAY2:%Y_%b_%d}".lower()
    points_insert(DAY2, 40000, tags_hash="n % 3 + 1")
    heap, indexes = relation_bytes(day)
    assert heap > 2_000_000 and indexes > 2_000_000
    with time_machine.travel(PACKED_AT, tick=False):
        pack_points.apply()
    assert packed_points(DAY2, TODAY) == 40000
    heap, indexes = relation_bytes(day)
    assert heap == 0
    assert indexes < 100_000  # each index's metapage and an empty root


def index_files(table: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(c.relfilenode ORDER BY c.relname) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
            [table],
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_todays_packed_hours_give_their_space_to_the_next_hours_rows():
    """Outside a transaction, today's partition is vacuumed once its hours over are
    packed, so the rows of the hours after take their space; its indexes are not rebuilt
    (that would hold up the points coming in)."""
    day = f"{MetricPoint._meta.db_table}_{TODAY:%Y_%b_%d}".lower()
    points_insert(TODAY, 40000, step="200 ms", tags_hash="n % 3 + 1")  # to 02:13:20
    heap, _ = relation_bytes(day)
    indexes = index_files(day)
    with time_machine.travel(TODAY + timedelta(hours=4, minutes=10), tick=False):
        pack_points.apply()  # up to 02:00
    assert packed_points(TODAY, TODAY + timedelta(hours=2)) == 35999  # n from 1
    assert stored_rows(TODAY, TODAY + timedelta(hours=3)) == 4001
    assert index_files(day) == indexes

    points_insert(TODAY + timedelta(hours=3), 36000, step="200 ms", tags_hash="n % 3 + 1")

    assert relation_bytes(day)[0] < heap * 1.1


def packed_rollups() -> list[tuple]:
    """The minute and hour rollups, with their sketches."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT resolution, metric_name, tags_hash, bucket_start, count, sum, min, max, "
            f"sketch_keys, sketch_counts FROM {MetricRollup._meta.db_table} "
            "WHERE resolution IN ('m', 'h')"
        )
        return [(*row[:8], tuple(row[8]), tuple(row[9])) for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_migrating_back_past_the_blocks_turns_packed_points_and_rollups_into_rows(ingest_client):
    items = [point(DAY2 + timedelta(minutes=7 * n), float(n), "ab"[n % 2]) for n in range(50)]
    with time_machine.travel(PACKED_AT, tick=False):
        partitions_maintain()
        record(ingest_client, items)
        rollups = set(packed_rollups())
        pack_points.apply()
    assert not MetricPoint.objects.exists()
    assert not packed_rollups()

    call_command("migrate", "metrics", "0007", verbosity=0)
    try:
        rows = MetricPoint.objects.values_list("timestamp", "value", "tags", "unit")
        assert sorted((t, v, tags["endpoint"], unit) for t, v, tags, unit in rows) == sorted(
            (datetime.fromisoformat(i["timestamp"]), i["value"], i["tags"]["endpoint"], "")
            for i in items
        )
        # Every minute and hour a row again, sketch and all.
        assert set(packed_rollups()) == rollups
    finally:
        call_command("migrate", "metrics", verbosity=0)


def test_staff_see_the_packed_blocks_in_the_admin_and_cannot_change_them(
    clock, ingest_client, admin_client
):
    record(ingest_client, [point(DAY2 + timedelta(minutes=n), 2.5, "a") for n in range(30)])
    pack_points.apply()

    points = admin_client.get("/admin/metrics/pointblock/", {"q": "api.latency"})
    assert points.status_code == 200
    assert "api.latency" in points.content.decode()
    rollups = admin_client.get("/admin/metrics/rollupblock/", {"resolution__exact": "h"})
    assert rollups.status_code == 200
    assert len(rollups.context["cl"].result_list) == 2  # the label set's day, and all's
    assert {block.buckets for block in rollups.context["cl"].result_list} == {1}
    block = PointBlock.objects.first()
    page = admin_client.get(f"/admin/metrics/pointblock/{block.pk}/change/")
    assert page.status_code == 200
    assert "2.5" in page.content.decode()  # its values
    assert admin_client.get(f"/admin/metrics/pointblock/{block.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/metrics/rollupblock/add/").status_code == 403
    changed = admin_client.post(f"/admin/metrics/pointblock/{block.pk}/change/", {"count": 1})
    assert changed.status_code == 403
    assert PointBlock.objects.get(pk=block.pk).count == 30


def test_the_command_packs_now_and_says_what(clock, ingest_client):
    record(ingest_client, [point(DAY2 + timedelta(minutes=n), 1.0, "a") for n in range(30)])
    out = io.StringIO()
    call_command("pack_metric_points", stdout=out)
    assert "30 points of 1 day(s) packed" in out.getvalue()
    assert "60 minute and 2 hour rollups packed" in out.getvalue()  # `a` and all
    assert packed_points(DAY2, TODAY) == 30


@pytest.mark.django_db(transaction=True)
def test_after_an_upgrade_the_days_kept_in_the_legacy_partition_are_packed():
    """A table converted with rows keeps them in one legacy partition (up to tomorrow):
    each of its days is packed up to the hours over two hours, the last ones' points stay
    rows, and rollups rebuilt from the packed points (`backfill_rollups`) answer as
    before."""
    from apps.ingest.partitions import legacy_partition
    from apps.metrics.rollups import rollup_range
    from apps.metrics.selectors import metric_statistics

    call_command("migrate", "metrics", "0005", verbosity=0)
    now = datetime.now(UTC)
    try:
        points_insert(  # as the release before stored them
            now, 5000, step="-97 seconds", name="'old.metric'", value="n % 101", tags_hash="1"
        )
    finally:
        call_command("migrate", "metrics", verbosity=0)
    legacy, _ = legacy_partition(MetricPoint._meta.db_table)
    today = (now - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)  # its hours
    first = now - timedelta(days=6)
    rollup_range(start=first, end=now)
    before = metric_statistics(name="old.metric", hours=24 * 6, now=now)

    with time_machine.travel(now, tick=False):
        pack_points.apply()
        rollup_range(start=first, end=now)  # rebuilt from the packed points
        after = metric_statistics(name="old.metric", hours=24 * 6, now=now)

    assert stored_rows(first, today) == 0
    with connection.cursor() as cursor:  # what is left in the legacy partition: the last
        cursor.execute(f"SELECT count(*) FROM {legacy}")
        assert cursor.fetchone()[0] == stored_rows(today, now + timedelta(seconds=1))
    assert packed_points(first, today) + stored_rows(today, now + timedelta(seconds=1)) == 5000
    assert after == same_as(before)
