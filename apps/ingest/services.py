"""The durable half of the write pipeline: outbox in, typed rows out."""

import logging

import orjson
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction

from .registry import RecordKind, get_kind

logger = logging.getLogger(__name__)

_OUTBOX = "ingest_outboxbatch"


def outbox_write(*, batches: dict[str, list[dict]]) -> list[int]:
    """Commit accepted items, one outbox row per kind, in ONE insert; queue them after commit.

    When this returns the items are durable: a lost broker message only
    delays them (the sweeper re-queues), it never loses them.
    """
    if not batches:
        return []
    values = ", ".join(["(%s, %s::jsonb, %s, now(), now())"] * len(batches))
    params: list = []
    for kind, items in batches.items():
        params += [kind, orjson.dumps(items).decode(), len(items)]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_OUTBOX} (kind, payload, item_count, created_at, enqueued_at) "
                f"VALUES {values} RETURNING id",
                params,
            )
            ids = [row[0] for row in cursor.fetchall()]
        transaction.on_commit(lambda: outbox_enqueue(ids=ids))
    return ids


def outbox_enqueue(*, ids: list[int]) -> bool:
    """Queue one task per outbox row. A broker outage is logged, not raised: the rows are safe."""
    from .tasks import process_outbox

    try:
        for outbox_id in ids:
            process_outbox.apply_async((outbox_id,), retry=False)
    except Exception:
        logger.warning("broker unavailable; %d outbox row(s) left for the sweeper", len(ids))
        return False
    return True


def _insert_sql(kind: RecordKind) -> str:
    model = kind.model
    columns = [f for f in model._meta.concrete_fields if f.column in kind.columns]
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    defs = ", ".join(
        f"{connection.ops.quote_name(f.column)} {f.db_type(connection)}" for f in columns
    )
    return (
        f"INSERT INTO {model._meta.db_table} ({names}) "
        f"SELECT {names} FROM jsonb_to_recordset(%s::jsonb) AS r({defs}) "
        f"ON CONFLICT (event_id) DO NOTHING"
    )


def _insert_from_outbox_sql(kind: RecordKind) -> str:
    model = kind.model
    columns = [f for f in model._meta.concrete_fields if f.column in kind.columns]
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    defs = ", ".join(
        f"{connection.ops.quote_name(f.column)} {f.db_type(connection)}" for f in columns
    )
    return (
        f"WITH batch AS (DELETE FROM {_OUTBOX} WHERE id = %s RETURNING payload) "
        f"INSERT INTO {model._meta.db_table} ({names}) "
        f"SELECT {names} FROM batch, jsonb_to_recordset(batch.payload) AS r({defs}) "
        f"ON CONFLICT (event_id) DO NOTHING"
    )


def outbox_process(*, outbox_id: int) -> int:
    """Move one outbox row into its table and delete it, atomically. Returns rows inserted.

    Safe to run twice or concurrently: a row being processed elsewhere is
    skipped, a processed row is gone, and `event_id` makes inserts idempotent.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT kind FROM {_OUTBOX} WHERE id = %s AND failed_at IS NULL "
                f"FOR UPDATE SKIP LOCKED",
                [outbox_id],
            )
            row = cursor.fetchone()
            if row is None:
                return 0
            kind = get_kind(row[0])
            try:
                with transaction.atomic():
                    cursor.execute(_insert_from_outbox_sql(kind), [outbox_id])
                    return cursor.rowcount
            except (DataError, IntegrityError) as exc:
                # A batch the database refuses will never succeed: park it, visibly.
                logger.error("outbox %s (%s) refused: %s", outbox_id, kind.name, exc)
                cursor.execute(
                    f"UPDATE {_OUTBOX} SET failed_at = now(), last_error = %s WHERE id = %s",
                    [str(exc)[:2000], outbox_id],
                )
                return 0


def records_insert(*, kind_name: str, rows: list[dict]) -> int:
    """Insert already-validated rows of one kind directly (used inside workers)."""
    if not rows:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(get_kind(kind_name)), [orjson.dumps(rows).decode()])
        return cursor.rowcount


def outbox_sweep(*, stale_seconds: int | None = None, limit: int = 1000) -> int:
    """Re-queue outbox rows whose task has not run for `stale_seconds`. Returns how many."""
    stale = settings.INGEST_OUTBOX_STALE_SECONDS if stale_seconds is None else stale_seconds
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_OUTBOX} SET enqueued_at = now() WHERE id IN ("
                f"  SELECT id FROM {_OUTBOX} WHERE failed_at IS NULL"
                f"  AND enqueued_at <= now() - make_interval(secs => %s)"
                f"  ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
                f") RETURNING id",
                [stale, limit],
            )
            ids = [row[0] for row in cursor.fetchall()]
    if ids and not outbox_enqueue(ids=ids):
        return 0
    return len(ids)
