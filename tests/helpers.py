import gzip
import uuid
from datetime import UTC, datetime, timedelta

import orjson

from apps.ingest.models import OutboxBatch
from apps.ingest.outbox import outbox_drain


def post_json(client, path: str, body, *, gzip_body: bool = False, **extra):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    if gzip_body:
        data = gzip.compress(data)
        extra["HTTP_CONTENT_ENCODING"] = "gzip"
    return client.generic("POST", path, data, content_type="application/json", **extra)


def drain_outbox() -> int:
    """Run the worker's drains until no outbox row waits (parked rows stay); rows stored."""
    stored = 0
    while OutboxBatch.objects.filter(failed_at__isnull=True).exists():
        stored += outbox_drain()
    return stored


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def ago(**delta) -> str:
    return iso(datetime.now(UTC) - timedelta(**delta))


def new_id() -> str:
    return str(uuid.uuid4())


def grant(user, *names: str) -> None:
    """Give `user` these permissions (`app_label.codename`), as the admin's Users page does."""
    from django.contrib.auth.models import Permission

    for name in names:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def relkind(table: str) -> str:
    """'r' for a plain table, 'p' for a partitioned one."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [table])
        return cursor.fetchone()[0]


def partitions_holding(table: str, event_id: str) -> list[str]:
    """The partition of `table` holding each row with this event_id."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text FROM {table} WHERE event_id = %s", [event_id]
        )
        return [row[0] for row in cursor.fetchall()]


def points_insert(
    start: datetime,
    count: int,
    *,
    step: str = "2 seconds",
    name: str = "'metric.' || (n % 20)",
    value: str = "n",
    tags_hash: str = "0",
) -> None:
    """`count` metric points straight into their table (a bulk load, or the release
    before), the n-th (from 1) at `start` + n * `step`, in that order. `name`, `value`
    and `tags_hash` are SQL over n (code's constants, never input)."""
    from django.db import connection

    from apps.metrics.models import MetricPoint

    name, value, tags_hash = (expr.replace("%", "%%") for expr in (name, value, tags_hash))
    sql = (
        f"INSERT INTO {MetricPoint._meta.db_table} (event_id, timestamp, received_at, "
        "metric_name, metric_type, value, unit, tags, tags_hash, source) "
        f"SELECT gen_random_uuid(), t, t, {name}, 'gauge', {value}, '', '{{}}', {tags_hash}, '' "
        f"FROM generate_series(1, {int(count)}) n, LATERAL (SELECT %s::timestamptz + n * "
        f"interval '{step}' AS t) s ORDER BY n"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [start])
