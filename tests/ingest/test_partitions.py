"""Metric points partitioned by day: the conversion of a populated table, retries stored
once across days and weeks, partitions made ahead, retention by dropping whole days."""

import io
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from apps.ingest.models import EventKey
from apps.ingest.outbox import _insert_sql, records_insert
from apps.ingest.partitions import (
    default_partition,
    legacy_partition,
    partition_bounds,
    partitions_maintain,
)
from apps.ingest.registry import get_kind
from apps.ingest.retention import retention_purge
from apps.metrics.models import MetricPoint
from apps.metrics.schemas import tags_hash
from apps.metrics.selectors import metric_statistics
from tests.helpers import drain_outbox, partitions_holding, relkind

TABLE = MetricPoint._meta.db_table


def point(value: float, at: datetime, *, event_id: str | None = None, name="p.test") -> dict:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "timestamp": at.isoformat(),
        "received_at": datetime.now(UTC).isoformat(),
        "metric_name": name,
        "metric_type": "gauge",
        "value": value,
        "unit": "",
        "tags": {},
        "tags_hash": tags_hash({}),
        "source": "",
    }


@pytest.mark.django_db(transaction=True)
def test_a_populated_table_becomes_partitioned_with_every_row_and_its_retries_refused():
    call_command("migrate", "metrics", "0005", verbosity=0)
    try:
        assert relkind(TABLE) == "r"
        # Mid-minute: the reads end a second after `now`, and the newest point (at `now`)
        # must lie in their raw last minute (in a minute's last second it did not: CI).
        now = datetime.now(UTC).replace(second=30, microsecond=0)
        before = [point(float(n), now - timedelta(days=n % 5, minutes=n)) for n in range(300)]
        with connection.cursor() as cursor:  # as the release before stored them
            cursor.execute(
                f"INSERT INTO {TABLE} (event_id, timestamp, received_at, metric_name, "
                "metric_type, value, unit, tags, tags_hash, source) SELECT event_id, timestamp, "
                "received_at, metric_name, metric_type, value, unit, tags, tags_hash, source "
                "FROM json_populate_recordset(NULL::metrics_metricevent, %s::json)",
                [json.dumps(before)],
            )
            cursor.execute(f"SELECT max(id) FROM {TABLE}")
            highest = cursor.fetchone()[0]
        # At one clock before and after: a migration that crosses a minute would otherwise
        # move the newest point out of the window's raw last minute. Read as the release
        # before read (no packed points or minutes: their tables come in later migrations).
        with (
            mock.patch("apps.metrics.selectors.packed_spans", return_value=[]),
            mock.patch("apps.metrics.exact.packed_spans", return_value=[]),
            mock.patch("apps.metrics.selectors.reads_packed", return_value=False),
        ):
            stats_before = metric_statistics(
                name="p.test", hours=24 * 6, now=now + timedelta(seconds=1)
            )
    finally:
        call_command("migrate", "metrics", verbosity=0)

    assert relkind(TABLE) == "p"
    legacy, upper = legacy_partition(TABLE)
    assert upper > datetime.now(UTC) + timedelta(days=1)
    assert MetricPoint.objects.count() == 300
    assert all(partitions_holding(TABLE, p["event_id"]) == [legacy] for p in before[:10])
    # Each stored item sent again, on any day: none stored twice.
    again = [{**p, "timestamp": (now + timedelta(days=2)).isoformat()} for p in before]
    assert records_insert(kind_name="metric", rows=again) == 0
    # A new item goes to its day's partition, with an id after the old ones.
    new = point(1.0, now + timedelta(days=3))
    assert records_insert(kind_name="metric", rows=[new]) == 1
    stored = MetricPoint.objects.get(event_id=new["event_id"])
    assert stored.id > highest
    assert partitions_holding(TABLE, new["event_id"]) == [
        f"{TABLE}_{(now + timedelta(days=3)):%Y_%b_%d}".lower()
    ]
    stats_after = metric_statistics(name="p.test", hours=24 * 6, now=now + timedelta(seconds=1))
    figures = ("count", "sum", "min", "max", "avg", "p50", "p95")
    assert stats_before["count"] == 1  # the newest point, in the raw last minute
    assert [stats_after[f] for f in figures] == [stats_before[f] for f in figures]
    # The partitions ahead exist, and the catch-all.
    names = {name for name, _, _ in partition_bounds(TABLE)}
    for days in range(2, 7):
        assert f"{TABLE}_{(now + timedelta(days=days)):%Y_%b_%d}".lower() in names


@pytest.mark.django_db(transaction=True)
def test_points_keep_being_stored_while_the_table_is_converted():
    """A writer that never stops while the migration runs: each of its batches is
    stored, once, and none fails (the switch holds the table for a moment)."""
    call_command("migrate", "metrics", "0005", verbosity=0)
    stop, sent, failures = threading.Event(), [], []

    def writer() -> None:
        try:
            while not stop.is_set():
                batch = [point(1.0, datetime.now(UTC), name="p.during") for _ in range(20)]
                records_insert(kind_name="metric", rows=batch)
                sent.extend(batch)
                time.sleep(0.002)
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.3)
        call_command("migrate", "metrics", verbosity=0)
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(timeout=60)
        call_command("migrate", "metrics", verbosity=0)
    assert not failures
    assert relkind(TABLE) == "p"
    stored = MetricPoint.objects.filter(metric_name="p.during")
    assert stored.count() == len(sent) > 100
    assert len(set(stored.values_list("event_id", flat=True))) == len(sent)


@pytest.mark.django_db
def test_a_retry_is_stored_once_on_another_day_and_after_the_week_moves_on():
    now = datetime.now(UTC)
    first = point(1.0, now)
    assert records_insert(kind_name="metric", rows=[first]) == 1
    # The client sent no timestamp: its retry, a day later, got another one.
    retry = {**first, "timestamp": (now + timedelta(days=1)).isoformat(), "value": 2.0}
    assert records_insert(kind_name="metric", rows=[retry]) == 0
    # The same item twice in one batch: the first sent is the one stored.
    twice = [point(3.0, now, event_id=str(uuid.uuid4()))]
    twice.append({**twice[0], "value": 4.0})
    assert records_insert(kind_name="metric", rows=twice) == 1
    assert MetricPoint.objects.get(event_id=twice[0]["event_id"]).value == 3.0

    with time_machine.travel(now + timedelta(days=7), tick=False):
        partitions_maintain()  # next week's keys: last week's are still checked
        assert records_insert(kind_name="metric", rows=[retry]) == 0
    with time_machine.travel(now + timedelta(days=22), tick=False):
        partitions_maintain()  # the first week's keys are gone: past the dedupe window
        late = {**first, "timestamp": (now + timedelta(days=22)).isoformat()}
        assert records_insert(kind_name="metric", rows=[late]) == 1
    assert MetricPoint.objects.filter(event_id=first["event_id"]).count() == 2


@pytest.mark.django_db
def test_a_point_with_no_partition_for_its_day_is_kept_and_moved_into_it_when_made():
    far = datetime.now(UTC) + timedelta(days=30)
    with time_machine.travel(far, tick=False):  # beat was down a month
        item = point(5.0, far - timedelta(minutes=1))
        assert records_insert(kind_name="metric", rows=[item]) == 1
        assert partitions_holding(TABLE, item["event_id"]) == [default_partition(TABLE)]
        partitions_maintain()
        assert partitions_holding(TABLE, item["event_id"]) == [f"{TABLE}_{far:%Y_%b_%d}".lower()]
        assert metric_statistics(name="p.test", hours=1)["count"] == 1
        # Every day since the newest partition was made: no hole.
        days = sorted(lower for _, lower, _ in partition_bounds(TABLE) if lower is not None)
        assert all(b - a == timedelta(days=1) for a, b in zip(days, days[1:], strict=False))


@pytest.mark.django_db
def test_retention_drops_whole_days_and_keeps_a_day_partly_inside_the_window(settings):
    settings.ANALYTICS_RETENTION_BY_KIND = {"metric": 3}
    start = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    later = start + timedelta(days=10)
    with time_machine.travel(later - timedelta(days=4), tick=False):
        partitions_maintain()
    days = [later - timedelta(days=d) for d in range(6)]  # 5 days ago .. today, at 12:00
    with time_machine.travel(later, tick=False):
        partitions_maintain()
        assert records_insert(kind_name="metric", rows=[point(1.0, d) for d in days]) == 6
        counts = retention_purge()
        # Cutoff: 3 days ago at 12:00. The day that ended a whole day before it goes
        # (5 days ago); 4 days ago is past the cutoff but its day's end is not a day
        # past it yet; 3 days ago, partly inside, stays.
        assert counts["metric"][0] == 1
        kept = sorted(p.timestamp for p in MetricPoint.objects.filter(metric_name="p.test"))
        assert kept == sorted(days[:5])
        gone = f"{TABLE}_{days[5]:%Y_%b_%d}".lower()
        assert gone not in {name for name, _, _ in partition_bounds(TABLE)}


@pytest.mark.django_db
def test_the_keys_are_probed_by_index_whatever_the_statistics_say():
    """Each batch looks its event_ids up, never reads every stored key: as an anti-join
    over a table autovacuum had not analysed yet it hashed them all, and a batch's cost
    grew with the keys stored (74-98 us of PostgreSQL an item in the bench)."""
    now = datetime.now(UTC)
    for _ in range(4):
        records_insert(kind_name="metric", rows=[point(1.0, now) for _ in range(500)])
    with time_machine.travel(now + timedelta(days=7), tick=False):
        partitions_maintain()  # last week's keys are the ones probed
        statement = _insert_sql(get_kind("metric"), from_outbox=False)
        batch = json.dumps([point(2.0, now) for _ in range(500)])
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + statement, [batch])
            plan = "\n".join(line for (line,) in cursor.fetchall())
    reads = [line for line in plan.splitlines() if " on ingest_eventkey_" in line]
    assert reads and all("Index Only Scan" in line for line in reads), plan
    assert "rows=2000" not in plan, plan


@pytest.mark.django_db
def test_only_the_points_a_client_named_keep_a_key(ingest_client):
    """A point sent without an event_id gets one the server makes up: nothing can send
    it again, so it is stored without a key (and costs none); a named one keeps its key
    and its retry is stored once."""
    named = str(uuid.uuid4())
    body = {
        "batch": [
            {"metric_name": "p.keys", "metric_type": "gauge", "value": 1.0, "event_id": named},
            {"metric_name": "p.keys", "metric_type": "gauge", "value": 2.0},
        ]
    }
    for _ in range(2):  # the client sends it again
        answer = ingest_client.post("/api/v1/analytics/metrics/record", body, format="json")
        assert answer.status_code == 202, answer.content
        drain_outbox()
    assert sorted(MetricPoint.objects.filter(event_id=named).values_list("value", flat=True)) == [
        1.0
    ]
    # The unnamed point twice: two sends, two points, as before partitions.
    assert MetricPoint.objects.filter(metric_name="p.keys", value=2.0).count() == 2
    assert list(EventKey.objects.values_list("event_id", flat=True)) == [uuid.UUID(named)]
    # The mark the server gives its own ids, sent by a client to skip its key: refused.
    spoof = {**body["batch"][0], "event_id": str(uuid.uuid4()), "_server_event_id": True}
    answer = ingest_client.post(
        "/api/v1/analytics/metrics/record", {"batch": [spoof]}, format="json"
    )
    assert answer.status_code == 400
    assert "_server_event_id" in answer.json()["rejected"][0]["errors"]


@pytest.mark.django_db
def test_an_operator_makes_the_days_ahead_now_after_beat_was_down():
    later = datetime.now(UTC) + timedelta(days=20)
    out = io.StringIO()
    with time_machine.travel(later, tick=False):
        call_command("maintain_partitions", stdout=out)
    lines = out.getvalue().splitlines()
    first = next(line for line in lines if line.startswith(f"{TABLE}: "))  # the made ones
    created = int(first.split(": ")[1].split()[0])
    assert created >= 20
    newest = f"{(later + timedelta(days=6)):%Y-%m-%d}"
    assert any(line.startswith(f"{TABLE}: ") and f"to {newest}" in line for line in lines)
