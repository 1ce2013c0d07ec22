"""The durable half of the write pipeline: outbox rows in, typed rows out.

A 202 means the items are committed here, one outbox row per kind; a drain task
moves waiting rows into their tables and deletes them in the same statement, and
the sweeper queues a drain when rows wait longer than they should (a lost task).

A commit rings the doorbell (`outbox_ring`): a drain is queued unless one is queued
already, which will take the new rows too. So under load one task and one statement
store many requests' rows (the task, the message and the statement cost about as
much as 500 items), and with little load every request's rows get a task of their own
at once.
"""

import logging
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from django.conf import settings
from django.db import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from redis import RedisError

from apps.core.redis import get_redis, redis_key

from .background import Worker
from .counters import duplicates_count
from .fields import as_utc
from .models import OutboxBatch
from .partitions import (
    SERVER_EVENT_ID,
    dedupe_lock,
    event_id_made_up,
    is_partitioned,
    keyed_rows_sql,
)
from .registry import RecordKind, get_kind
from .retention import retention_cutoff
from .validation import validate_items

logger = logging.getLogger(__name__)

OUTBOX = OutboxBatch._meta.db_table


def outbox_write(*, batches: dict[str, list[dict]]) -> list[int]:
    """Commit accepted items, one outbox row per kind, in ONE insert; ring the doorbell
    after commit.

    When this returns the items are durable: a lost broker message only
    delays them (the sweeper queues a drain), it never loses them.
    """
    if not batches:
        return []
    values = ", ".join(["(%s, %s, %s, %s, now(), now())"] * len(batches))
    params: list = []
    for kind, items in batches.items():
        payload, received_at = outbox_payload(items)
        params += [kind, payload, len(items), received_at]
    # One statement is a transaction of its own: outside a caller's transaction it
    # commits alone, without BEGIN and COMMIT each a round trip (~0.5 us an item of the
    # web's CPU); inside one it is part of it, and the ring waits for its commit.
    connection.ensure_connection()
    # A cursor that binds on the server: the payload travels as a parameter, not escaped
    # into the statement's text by psycopg and read back by the parser (~1 us an item of
    # both). No statement is prepared (prepare_threshold is None): fine through a pooler
    # in transaction mode.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"INSERT INTO {OUTBOX} (kind, payload, item_count, received_at, created_at, "
            f"enqueued_at) VALUES {values} RETURNING id",
            params,
        )
        ids = [row[0] for row in cursor.fetchall()]
    transaction.on_commit(_publish)  # at once, outside a transaction
    return ids


def outbox_payload(items: list[dict]) -> tuple[str, str | None]:
    """An outbox row's payload and received_at: the first item's received_at, once;
    each item that has it is written without it, and without its timestamp when that is
    the same (`payload_rows` puts both back). ~0.2 us an item here saves ~2 of the
    database's (92 fewer bytes to store and parse, two timestamps fewer to read)."""
    received_at = items[0].get("received_at") if items else None
    if not isinstance(received_at, str):
        return orjson.dumps(items).decode(), None
    rows = []
    for item in items:
        if item.get("received_at") == received_at:
            item = item.copy()
            del item["received_at"]
            if item.get("timestamp") == received_at:
                del item["timestamp"]
        rows.append(item)
    return orjson.dumps(rows).decode(), received_at


def payload_rows(payload: str, received_at: datetime | None) -> list[dict]:
    """The items of an outbox row as they were accepted (`outbox_payload` undone)."""
    rows = orjson.loads(payload)
    if received_at is not None:
        at = received_at.astimezone(UTC).isoformat()
        for row in rows:
            # A parked row queued again (`outbox_retry`) has received_at set anew and
            # its timestamp, if left out, still the first.
            row.setdefault("received_at", at)
            row.setdefault("timestamp", at)
    return rows


def _publish() -> None:
    if settings.INGEST_PUBLISH_IN_BACKGROUND:
        publisher.submit(None)
    else:
        outbox_ring()


# The doorbell: set while a drain task is queued and has not started. A drain clears it
# before it looks for rows, so a row committed before a ring that found it set is seen by
# the drain queued then. It expires: a drain message the broker lost holds back the rows
# behind it this long at most (then the next commit queues one; the sweeper, if none).
DOORBELL_SECONDS = 5
# Rows a drain takes; when it takes this many it queues the next drain first, so several
# workers share a backlog.
DRAIN_BATCHES = 50


def doorbell_key() -> str:
    return redis_key("ingest", "drain-queued")


def outbox_ring() -> bool:
    """Queue a drain task unless one is queued already. A broker or Redis outage is logged,
    not raised (False): the rows are safe, the sweeper queues a drain later."""
    try:
        if not get_redis().set(doorbell_key(), 1, nx=True, ex=DOORBELL_SECONDS):
            return True
    except RedisError:
        logger.warning("Redis unavailable; outbox rows left for the sweeper")
        return False
    if _drain_queue():
        return True
    _doorbell_clear()  # so the next commit tries again
    return False


def _drain_queue() -> bool:
    from .tasks import drain_outbox

    try:
        drain_outbox.apply_async(retry=False)
    except Exception:
        logger.warning("broker unavailable; outbox rows left for the sweeper")
        return False
    return True


def _doorbell_clear() -> None:
    try:
        get_redis().delete(doorbell_key())
    except RedisError:
        pass  # it expires


def outbox_retry(*, ids: list[int]) -> int:
    """Queue parked batches again (the cause fixed), as if received now: their items'
    received_at becomes now, so what re-reads items arriving late (the insights rollup)
    reads them when they land. An item written without its timestamp (`outbox_payload`)
    keeps the batch's received_at as its timestamp; a batch that lost that (set aside
    by a worker of the release before, which did not know it) gets the time it was set
    aside. Returns the batches queued; ones not parked are left."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {OUTBOX} SET failed_at = NULL, last_error = '', created_at = now(), "
            "payload = (SELECT coalesce(json_agg(jsonb_set(CASE WHEN item ? 'timestamp' "
            "THEN item ELSE item || jsonb_build_object('timestamp', "
            "coalesce(received_at, created_at)) END, '{received_at}', to_jsonb(now()))), "
            "'[]')::text FROM jsonb_array_elements(payload::jsonb) AS item) "
            "WHERE id = ANY(%s) AND failed_at IS NOT NULL RETURNING id",
            [list(ids)],
        )
        retried = [row[0] for row in cursor.fetchall()]
    if retried:
        transaction.on_commit(outbox_ring)
    return len(retried)


def _insert_sql(kind: RecordKind, *, from_outbox: bool, optimistic: bool = False) -> str:
    """One statement: rows from the outbox row (or a JSON parameter) into the kind's table.

    From the outbox, the outbox row is deleted by the same statement, so the
    move is atomic; `ON CONFLICT (event_id) DO NOTHING` makes it idempotent (for a
    partitioned kind, its event_ids going into the dedupe keys first: `keyed_rows_sql`,
    `optimistic` as it says). The statement's result tells how many rows were inserted
    (`_inserted_count`).
    """
    columns = [f for f in kind.model._meta.concrete_fields if f.column in kind.columns]
    quote = connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in columns)
    defs = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in columns)
    partitioned = is_partitioned(kind)
    payload = "batch.payload" if from_outbox else "%s"
    if partitioned:
        # Each row's place in what was sent: of rows sharing an event_id the first wins.
        flag = quote(SERVER_EVENT_ID)
        recordset = (
            f"ROWS FROM (json_to_recordset({payload}::json) AS ({defs}, {flag} boolean)) "
            f"WITH ORDINALITY AS r({names}, {flag}, ord)"
        )
        lead = "batch.id AS batch, " if from_outbox else "0 AS batch, "
        tail = f", r.{flag}, r.ord"
    else:
        recordset = f"json_to_recordset({payload}::json) AS r({defs})"
        lead = tail = ""
    if from_outbox:
        read = ", ".join(_outbox_columns([f.column for f in columns]))
        source = (
            f"batch AS (DELETE FROM {OUTBOX} WHERE id = ANY(%s) "
            "RETURNING id, payload, received_at), "
            f"rows AS (SELECT {lead}{read}{tail} FROM batch, {recordset})"
        )
    else:
        # json, not jsonb: parsed once as the rows are read (as the outbox payload is).
        source = f"rows AS (SELECT {lead}r.* FROM {recordset})"
    if partitioned:
        source = f"{source}, {keyed_rows_sql(kind, optimistic=optimistic)}"
        insert = f"INSERT INTO {kind.model._meta.db_table} ({names}) SELECT {names} FROM fresh"
    else:
        insert = (
            f"INSERT INTO {kind.model._meta.db_table} ({names}) SELECT {names} FROM rows "
            f"ON CONFLICT (event_id) DO NOTHING"
        )
    if not kind.after_insert:
        return f"WITH {source} {insert}"
    returning = ", ".join(quote(c) for c in kind.returning)
    derived = "".join(
        f", derived_{i} AS ({statement})" for i, statement in enumerate(kind.after_insert)
    )
    # Data-modifying CTEs run to completion whether or not the final SELECT reads them.
    return (
        f"WITH {source}, inserted AS ({insert} RETURNING {returning}){derived} "
        "SELECT count(*) FROM inserted"
    )


def _outbox_columns(columns: list[str]) -> list[str]:
    """The select list of an outbox row's items: received_at and timestamp that
    `outbox_payload` left out are the outbox row's received_at (rows written before the
    outbox kept received_at carry both)."""
    quote = connection.ops.quote_name
    return [
        f"coalesce(r.{quote(column)}, batch.received_at) AS {quote(column)}"
        if column in ("received_at", "timestamp")
        else f"r.{quote(column)}"
        for column in columns
    ]


def _inserted_count(cursor, kind: RecordKind) -> int:
    """Rows the statement of `_insert_sql` inserted."""
    return cursor.fetchone()[0] if kind.after_insert else cursor.rowcount


# A task whose batch is small also stores the small batches of its kind waiting behind it
# (SDKs send one event a request: under load, a backlog of one-item batches), in the
# same statement and transaction; their own tasks then find them gone. Only rows it
# takes are locked, so no other task waits on one it left.
COALESCE_ITEMS_AT_MOST = 10  # a batch this small is taken along
COALESCE_BATCHES = 100  # at most this many more a task


def _small_batches_behind(cursor, kind: str, outbox_id: int) -> list[tuple[int, int]]:
    cursor.execute(
        f"SELECT id, item_count FROM {OUTBOX} WHERE kind = %s AND failed_at IS NULL "
        "AND id > %s AND item_count <= %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
        [kind, outbox_id, COALESCE_ITEMS_AT_MOST, COALESCE_BATCHES],
    )
    return cursor.fetchall()


def outbox_process(*, outbox_id: int) -> int:
    """Move one outbox row (and the small ones of its kind behind it) into its table and
    delete them, atomically. Returns rows inserted. (What a task queued for one row did
    before drains; such tasks still run.)

    Safe to run twice or concurrently: a row being processed elsewhere is
    skipped, a processed row is gone, and `event_id` makes inserts idempotent:
    an item whose event_id is already stored is a duplicate (counted for
    /metrics as `outcome="duplicate"`), the stored one wins.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT kind, item_count FROM {OUTBOX} WHERE id = %s AND failed_at IS NULL "
                f"FOR UPDATE SKIP LOCKED",
                [outbox_id],
            )
            row = cursor.fetchone()
            if row is None:
                return 0
            kind, item_count = get_kind(row[0]), row[1]
            ids = [outbox_id]
            if item_count <= COALESCE_ITEMS_AT_MOST:
                behind = _small_batches_behind(cursor, kind.name, outbox_id)
                ids += [batch_id for batch_id, _ in behind]
                item_count += sum(count for _, count in behind)
            inserted, duplicates = _outbox_store(cursor, kind, ids, item_count)
    duplicates_count(kind_name=kind.name, n=duplicates)
    return inserted


def outbox_drain() -> int:
    """Move the oldest rows waiting (DRAIN_BATCHES at most) into their tables and delete
    them, atomically, each kind's rows in one statement; queue the next drain first when
    that many wait. Returns rows inserted. Safe as `outbox_process` is."""
    _doorbell_clear()
    duplicates: dict[str, int] = {}
    inserted = 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, kind, item_count FROM {OUTBOX} WHERE failed_at IS NULL "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                [DRAIN_BATCHES],
            )
            taken = cursor.fetchall()
            if len(taken) == DRAIN_BATCHES:
                outbox_ring()  # the rows after these, by another worker meanwhile
            by_kind: dict[str, list[tuple[int, int]]] = {}
            for outbox_id, name, item_count in taken:
                by_kind.setdefault(name, []).append((outbox_id, item_count))
            for name, rows in by_kind.items():
                ids = [outbox_id for outbox_id, _ in rows]
                try:
                    with transaction.atomic():
                        stored, duplicates[name] = _outbox_store(
                            cursor, get_kind(name), ids, sum(count for _, count in rows)
                        )
                except (OperationalError, InterfaceError):
                    raise  # the database, not the rows: the task is retried
                except Exception as exc:
                    # Rows no drain can store (a kind this release does not know, a bug)
                    # must not stop every drain after: parked, visible in the admin.
                    logger.exception("outbox %s (%s) could not be stored; parked", ids, name)
                    _outbox_park(cursor, ids, f"{type(exc).__name__}: {exc}")
                    continue
                inserted += stored
    for name, n in duplicates.items():
        duplicates_count(kind_name=name, n=n)
    return inserted


def _outbox_park(cursor, ids: list[int], error: str) -> None:
    cursor.execute(
        f"UPDATE {OUTBOX} SET failed_at = now(), last_error = %s WHERE id = ANY(%s)",
        [error[:2000], ids],
    )


def _outbox_store(cursor, kind: RecordKind, ids: list[int], item_count: int) -> tuple[int, int]:
    """The locked outbox rows `ids` of one kind (`item_count` items) into its table, and
    what it derives from them: (rows inserted, duplicates)."""
    payload = None
    if kind.derive is not None:
        cursor.execute(
            f"SELECT payload, received_at FROM {OUTBOX} WHERE id = ANY(%s) ORDER BY id", [ids]
        )
        payload = [item for row in cursor.fetchall() for item in payload_rows(*row)]
    if is_partitioned(kind):
        dedupe_lock(cursor)
    try:
        inserted = _outbox_move(cursor, kind, ids)
    except (DataError, IntegrityError) as exc:
        # One bad row must not sink the others: insert row by row and
        # park only the rows the database refuses, visibly.
        logger.error("outbox %s (%s) refused as a batch: %s", ids, kind.name, exc)
        inserted = sum(_outbox_isolate(cursor, kind, batch_id) for batch_id in ids)
        item_count = inserted  # the refused rows are parked, not duplicates
    if payload is not None:
        _derived_insert(kind, payload)
    return inserted, item_count - inserted


def _outbox_move(cursor, kind: RecordKind, ids: list[int]) -> int:
    """The outbox rows `ids` into the kind's table, each in one statement that deletes them.
    A partitioned kind's first try puts the keys in optimistically (`keyed_rows_sql`):
    when an event_id is already kept this week, that try is undone and the statement that
    skips kept keys runs instead. Raises what the database refused."""
    if is_partitioned(kind):
        try:
            with transaction.atomic():
                cursor.execute(_insert_sql(kind, from_outbox=True, optimistic=True), [ids])
                return _inserted_count(cursor, kind)
        except IntegrityError as exc:
            if not isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise
    with transaction.atomic():
        cursor.execute(_insert_sql(kind, from_outbox=True), [ids])
        return _inserted_count(cursor, kind)


def _derived_insert(kind: RecordKind, rows: list[dict]) -> None:
    """Store what `kind.derive` computes from these rows; never fails the rows themselves."""
    for name, items in kind.derive(rows).items():
        derived = get_kind(name)
        if derived.trusted is None:
            outcome = validate_items(items, resolve_kind=lambda _, k=derived: k, request=None)
            accepted, refused = outcome.accepted.get(name, []), outcome.rejected
        else:
            accepted, refused = _trusted_rows(derived, items)
        if refused:
            logger.warning(
                "%d %s item(s) derived from %s refused: %s",
                len(refused),
                name,
                kind.name,
                refused[0]["errors"],
            )
        try:
            with transaction.atomic():
                records_insert(kind_name=name, rows=accepted)
        except (DataError, IntegrityError):
            logger.exception("%s derived from %s not stored", name, kind.name)


def _trusted_rows(kind: RecordKind, items: list[dict]) -> tuple[list[dict], list[dict]]:
    """Items built by trusted code, made rows by `kind.trusted` (no schema), with the
    time bounds, event_id and received_at validate_items gives: (rows, refusals)."""
    now = datetime.now(UTC)
    newest = now + timedelta(seconds=settings.INGEST_FUTURE_TOLERANCE_SECONDS)
    oldest = retention_cutoff(kind.name, now=now)
    received_at = now.isoformat()
    rows, refused = [], []
    times: dict = {}  # each time checked and written once: a source row's items share it
    for index, item in enumerate(items):
        try:
            row = kind.trusted(item)
            at = row["timestamp"] or now
            if (written := times.get(at)) is None:
                moment = as_utc(datetime.fromisoformat(at) if isinstance(at, str) else at)
                if not oldest <= moment <= newest:
                    raise ValueError("outside the retention window, or more than 1 hour ahead")
                written = times[at] = moment.isoformat()
        except (ValueError, TypeError, KeyError) as exc:
            refused.append({"index": index, "errors": {"item": [str(exc)]}})
            continue
        event_id = row["event_id"]
        if event_id is None:
            event_id_made_up(row, kind)
        else:
            row["event_id"] = str(event_id)
        row["timestamp"] = written
        row["received_at"] = received_at
        rows.append(row)
    return rows, refused


def _outbox_isolate(cursor, kind: RecordKind, outbox_id: int) -> int:
    cursor.execute(f"SELECT payload, received_at FROM {OUTBOX} WHERE id = %s", [outbox_id])
    rows = payload_rows(*cursor.fetchone())
    refused: list[dict] = []
    errors: list[str] = []
    inserted = 0
    for row in rows:
        try:
            with transaction.atomic():
                inserted += records_insert(kind_name=kind.name, rows=[row])
        except (DataError, IntegrityError) as exc:
            refused.append(row)
            errors.append(str(exc).splitlines()[0])
    cursor.execute(f"DELETE FROM {OUTBOX} WHERE id = %s", [outbox_id])
    if refused:
        cursor.execute(
            f"INSERT INTO {OUTBOX} (kind, payload, item_count, created_at, enqueued_at, "
            "failed_at, last_error) VALUES (%s, %s, %s, now(), now(), now(), %s)",
            [kind.name, orjson.dumps(refused).decode(), len(refused), "; ".join(errors)[:2000]],
        )
    return inserted


def records_insert(*, kind_name: str, rows: list[dict]) -> int:
    """Insert already-validated rows of one kind directly (used inside workers)."""
    if not rows:
        return 0
    kind = get_kind(kind_name)
    with transaction.atomic(), connection.cursor() as cursor:
        if is_partitioned(kind):
            dedupe_lock(cursor)  # until the outermost transaction ends
        cursor.execute(_insert_sql(kind, from_outbox=False), [orjson.dumps(rows).decode()])
        return _inserted_count(cursor, kind)


def outbox_sweep(*, stale_seconds: int | None = None, limit: int = 1000) -> int:
    """Queue a drain when rows have waited `stale_seconds` (their drain lost, or a backlog
    longer than that). Returns how many rows waited."""
    stale = settings.INGEST_OUTBOX_STALE_SECONDS if stale_seconds is None else stale_seconds
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {OUTBOX} SET enqueued_at = now() WHERE id IN ("
                f"  SELECT id FROM {OUTBOX} WHERE failed_at IS NULL"
                f"  AND enqueued_at <= now() - make_interval(secs => %s)"
                f"  ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
                f") RETURNING id",
                [stale, limit],
            )
            ids = [row[0] for row in cursor.fetchall()]
    # Whatever the doorbell says: the drain it stands for may be the one lost.
    if ids and not _drain_queue():
        return 0
    return len(ids)


# Rings the doorbell off the request path: a request does not wait ~2 ms on Redis, nor
# on a broker that is down; if the process dies first, the sweeper queues a drain
# (INGEST_OUTBOX_STALE_SECONDS).
publisher: Worker[None] = Worker("ingest-publisher", lambda _: outbox_ring())
