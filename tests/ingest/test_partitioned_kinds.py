"""Job outcomes, request logs, errors, device state changes, device metrics and AI usage
partitioned by time, as metric points and product events are (test_partitions.py has
the mechanism's own tests): tables of the release before, populated through the API,
converted in place with every row kept; retries refused whatever day they land on; a
partition a day for the kinds written most, a week for those written seldom."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from apps.ingest.partitions import legacy_partition, partition_bounds
from apps.ingest.registry import get_kind
from tests.helpers import drain_outbox, partitions_holding, relkind

BATCH = "/api/v1/analytics/batch"

# kind: (the app's migration before its table was partitioned, a valid item)
KINDS = {
    "job_outcome": (("jobs", "0001"), {"job_type": "backup", "status": "success"}),
    "request_log": (
        ("requestlog", "0003"),
        {"endpoint": "/api/x", "method": "GET", "status_code": 200, "response_time_ms": 3.5},
    ),
    "error": (("errors", "0003"), {"category": "api", "error_message": "boom"}),
    "device_state": (("devices", "0002"), {"device_id": "d1", "new_state": "online"}),
    "device_metric": (("devices", "0002"), {"device_id": "d1", "metrics": {"temp": 20.5}}),
    "ai_usage": (("ai", "0005"), {"feature": "quiz", "tokens_in": 12}),
}
WEEKLY = {"error", "device_state", "device_metric", "ai_usage"}


def items(kind: str, n: int, now: datetime) -> list[dict]:
    return [
        {
            **KINDS[kind][1],
            **({"device_id": f"d{i}"} if kind == "device_metric" else {}),  # each stored
            "kind": kind,
            "event_id": str(uuid.uuid4()),
            "timestamp": (now - timedelta(days=i % 5, minutes=i)).isoformat(),
        }
        for i in range(n)
    ]


def send(client, batch: list[dict]) -> None:
    answer = client.post(BATCH, {"batch": batch}, format="json")
    assert answer.status_code == 202, answer.content
    assert answer.json()["accepted"] == len(batch), answer.content
    drain_outbox()


def stored(kind: str) -> list[dict]:
    return list(get_kind(kind).model.objects.order_by("id").values())


@pytest.mark.django_db(transaction=True)
def test_populated_tables_become_partitioned_with_every_row_kept_and_retries_refused(
    ingest_client,
):
    now = datetime.now(UTC)
    apps = {app: migration for (app, migration), _ in KINDS.values()}
    for app, migration in apps.items():
        call_command("migrate", app, migration, verbosity=0)
    try:
        assert {relkind(get_kind(kind).model._meta.db_table) for kind in KINDS} == {"r"}
        sent = {kind: items(kind, 40, now) for kind in KINDS}
        send(ingest_client, [item for batch in sent.values() for item in batch])
        before = {kind: stored(kind) for kind in KINDS}
    finally:
        for app in apps:
            call_command("migrate", app, verbosity=0)

    for kind in KINDS:
        table = get_kind(kind).model._meta.db_table
        assert relkind(table) == "p", kind
        assert len(before[kind]) == 40, kind
        assert stored(kind) == before[kind], kind  # every row, every column, the same ids
        legacy, upper = legacy_partition(table)
        assert upper > now + timedelta(days=1), kind
        assert partitions_holding(table, sent[kind][0]["event_id"]) == [legacy], kind

    # Every item sent again two days later, stamped then: none is stored twice.
    with time_machine.travel(now + timedelta(days=2), tick=False):
        stamp = {"timestamp": (now + timedelta(days=2)).isoformat()}
        send(ingest_client, [{**item, **stamp} for batch in sent.values() for item in batch])
        for kind in KINDS:
            assert len(stored(kind)) == 40, kind
    # A new item after the old rows' partition (which holds up to the end of the day, or
    # week, after the conversion's) goes to its day's (or week's), with an id after theirs.
    later = now + timedelta(days=8)
    with time_machine.travel(later, tick=False):
        call_command("maintain_partitions", verbosity=0)  # beat's hourly run
        fresh = {kind: {**items(kind, 1, later)[0]} for kind in KINDS}
        send(ingest_client, list(fresh.values()))
    for kind, item in fresh.items():
        table = get_kind(kind).model._meta.db_table
        period = f"{later:%Y_week_%W}" if kind in WEEKLY else f"{later:%Y_%b_%d}".lower()
        assert partitions_holding(table, item["event_id"]) == [f"{table}_{period}"], kind
        assert stored(kind)[-1]["event_id"] == uuid.UUID(item["event_id"]), kind
        assert stored(kind)[-1]["id"] > before[kind][-1]["id"], kind


@pytest.mark.django_db
def test_a_new_install_has_every_period_of_the_window_and_a_week_ahead():
    today = datetime.now(UTC).date()
    for kind in KINDS:
        starts = sorted(
            lower.date()
            for _, lower, _ in partition_bounds(get_kind(kind).model._meta.db_table)
            if lower
        )
        step = timedelta(days=7 if kind in WEEKLY else 1)
        assert all(b - a == step for a, b in zip(starts, starts[1:], strict=False)), kind
        assert starts[0] <= today - timedelta(days=90), kind  # ANALYTICS_RETENTION_DAYS
        assert starts[-1] + step >= today + timedelta(days=7), kind  # PARTITIONS_AHEAD_DAYS
        if kind in WEEKLY:
            assert all(start.weekday() == 0 for start in starts), kind  # weeks from Monday
            assert len(starts) <= 17, kind  # not ~100 tables for a kind written seldom


@pytest.mark.django_db
def test_a_weekly_kind_drops_a_week_once_it_ended_a_day_before_the_cutoff(settings):
    """Retention of a kind partitioned by week: the week holding the cutoff keeps its rows;
    the one before goes as soon as it ended a whole day before the cutoff."""
    from apps.ingest.tasks import purge_expired

    settings.ANALYTICS_RETENTION_BY_KIND = {**settings.ANALYTICS_RETENTION_BY_KIND, "error": 30}
    model = get_kind("error").model
    now = datetime(2026, 12, 10, 12, tzinfo=UTC)  # a Thursday; the cutoff: Tuesday Nov 10
    fields = {"category": "api", "error_message": "boom"}
    ages = {"older week": 40, "the cutoff's week, before it": 31, "inside": 29}
    with time_machine.travel(now, tick=False):
        call_command("maintain_partitions", verbosity=0)
        for age in ages.values():
            at = now - timedelta(days=age)
            model.objects.create(timestamp=at, received_at=at, **fields)
        purge_expired.apply()
    kept = sorted((now - e.timestamp).days for e in model.objects.all())
    assert kept == [29, 31]
    names = {name for name, _, _ in partition_bounds(model._meta.db_table)}
    assert f"{model._meta.db_table}_2026_week_44" not in names  # Nov 2-8: gone whole
    assert f"{model._meta.db_table}_2026_week_45" in names  # Nov 9-15: holds the cutoff


@pytest.mark.django_db
def test_the_ai_metrics_minute_roll_is_not_jit_compiled():
    """JIT off for the database (ingest.0004). The minute roll of the AI metrics reads
    every partition of AI usage and of metric points; its estimate is past
    jit_above_cost, and compiling its plan took 12.7 s, for a statement that then ran
    in 12 ms."""
    from apps.metrics.rollups import _minutes_sql, _points_of_pairs
    from apps.metrics.sources import sources

    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    pairs = [
        (source.metric_name, start + timedelta(minutes=m))
        for source in sources()
        for m in range(60)
    ]
    names = [name for name, _ in pairs]
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit_above_cost")
        threshold = float(cursor.fetchone()[0])
        cursor.execute(
            "EXPLAIN (FORMAT JSON) " + _minutes_sql(_points_of_pairs(names)),
            [names, [at for _, at in pairs]],
        )
        plan = cursor.fetchone()[0][0]
    assert plan["Plan"]["Total Cost"] > threshold  # past it: compiled, were JIT on
    assert "JIT" not in plan


@pytest.mark.django_db(transaction=True)
def test_the_jit_migration_run_by_a_role_that_does_not_own_the_database_warns():
    """Not every deployment migrates as the database's owner: the migration goes on, and
    says what to run."""
    from importlib import import_module

    sql = import_module("apps.ingest.migrations.0004_database_without_jit").JIT_OFF
    notices: list[str] = []
    with connection.cursor() as cursor:
        raw = connection.connection

        def handler(diagnostic):
            notices.append(diagnostic.message_primary or "")

        raw.add_notice_handler(handler)
        cursor.execute("DROP ROLE IF EXISTS analytics_not_owner")
        cursor.execute("CREATE ROLE analytics_not_owner")
        try:
            cursor.execute("SET ROLE analytics_not_owner")
            cursor.execute(sql)
        finally:
            cursor.execute("RESET ROLE")
            cursor.execute("DROP ROLE analytics_not_owner")
            raw.remove_notice_handler(handler)
    database = connection.settings_dict["NAME"]
    assert any(f"ALTER DATABASE {database} SET jit = off" in n for n in notices), notices
