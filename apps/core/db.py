"""Database helpers every app may use."""

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum

from django.db import connection, transaction
from django.db.models import Case, CharField, FloatField, Func, Model, QuerySet, Value, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast
from django.db.models.lookups import Exact


class AdvisoryLock(IntEnum):
    """The keys of the PostgreSQL advisory locks the apps take, listed in one place so no
    two uses share a key by accident."""

    METRICS_ROLLER = 724_311_001  # one roller at a time; backfills take it shared
    DEDUPE_WEEK = 724_311_002  # inserts of partitioned kinds shared, the week's change exclusive


@contextmanager
def work_mem(megabytes: int) -> Iterator[None]:
    """A transaction whose sorts and hashes may use this much memory each (SET LOCAL):
    for a few large set-based reads, so they hash in memory instead of sorting on disk."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{int(megabytes)}MB'")
        yield


def connection_lost() -> bool:
    """Whether the last database error took the connection with it (a restart, a cut):
    then nothing is known about the data, so callers retry rather than blame a row."""
    raw = connection.connection
    return connection.needs_rollback or raw is None or raw.closed or raw.broken


def union_all(querysets: list[QuerySet]) -> tuple[str, list]:
    """The querysets' SQL as one `UNION ALL` and its parameters, for an outer query that
    adds up what several apps' selectors found (each app still writes its own query)."""
    parts, params = [], []
    for queryset in querysets:
        sql, found = queryset.query.sql_with_params()
        parts.append(f"({sql})")
        params.extend(found)
    return " UNION ALL ".join(parts), params


def json_number(field: str, key: str) -> Case:
    """`field -> key` as a float when it is a JSON number, else NULL: a client's
    `"amount": "abc"` must not fail a whole aggregate."""
    kind = Func(KeyTransform(key, field), function="jsonb_typeof", output_field=CharField())
    return Case(
        When(Exact(kind, Value("number")), then=Cast(KeyTextTransform(key, field), FloatField())),
        output_field=FloatField(),
    )


def insert_new(objs: list[Model], *, batch_size: int = 1000) -> int:
    """INSERT ... ON CONFLICT DO NOTHING: rows a unique constraint already holds are left
    as they are. Returns how many were new (bulk_create cannot say)."""
    if not objs:
        return 0
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    table = connection.ops.quote_name(model._meta.db_table)
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            batch = objs[start : start + batch_size]
            params = [
                f.get_db_prep_save(f.pre_save(obj, add=True), connection)
                for obj in batch
                for f in fields
            ]
            values = ", ".join([row] * len(batch))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {values} "  # noqa: S608
                "ON CONFLICT DO NOTHING RETURNING 1",
                params,
            )
            inserted += cursor.rowcount
    return inserted
